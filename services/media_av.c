/* media_av: libavformat probing of untrusted audio/video — format allowlist, no nested opens, limits, poster */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "media_pipeline.h"

/* Demuxers allowed (names as libavformat gives them): no hls, concat, image2, or anything that
 * opens other files. */
#define AV_FORMATS "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,ogg,wav"
#define AV_DEADLINE_S 30
#define POSTER_MAX_PACKETS 300

static int interrupted(void *opaque)
{
	return time(NULL) > *(const time_t *)opaque;
}

/* Every open but the one we make ourselves is refused: a playlist cannot pull in other files. */
static int refuse_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
		       AVDictionary **options)
{
	(void)s, (void)pb, (void)url, (void)flags, (void)options;
	return AVERROR(EPERM);
}

/* Opens path with our own AVIOContext (file protocol only) and probes it under the limits.
 * 0, or an AVERROR. */
static int av_open(const struct media_opts *o, const char *path, time_t *deadline,
		   AVFormatContext **out)
{
	AVFormatContext *ctx = avformat_alloc_context();
	AVDictionary *opts = NULL, *io_opts = NULL;
	AVIOContext *pb = NULL;
	char probe[32];
	int rc;

	if (ctx == NULL)
		return AVERROR(ENOMEM);
	ctx->interrupt_callback = (AVIOInterruptCB){ interrupted, deadline };
	av_dict_set(&io_opts, "protocol_whitelist", "file", 0);
	rc = avio_open2(&pb, path, AVIO_FLAG_READ, &ctx->interrupt_callback, &io_opts);
	av_dict_free(&io_opts);
	if (rc < 0) {
		avformat_free_context(ctx);
		return rc;
	}
	ctx->pb = pb;
	ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
	ctx->io_open = refuse_open;
	snprintf(probe, sizeof(probe), "%lld", o->probe_bytes);
	av_dict_set(&opts, "format_whitelist", AV_FORMATS, 0);
	av_dict_set(&opts, "protocol_whitelist", "file", 0);
	av_dict_set(&opts, "probesize", probe, 0);
	av_dict_set(&opts, "analyzeduration", "10000000", 0);
	av_dict_set(&opts, "max_streams", "16", 0);
	rc = avformat_open_input(&ctx, path, NULL, &opts);
	av_dict_free(&opts);
	if (rc < 0) {
		avio_closep(&pb);
		return rc;
	}
	rc = avformat_find_stream_info(ctx, NULL);
	if (rc < 0) {
		avformat_close_input(&ctx);
		avio_closep(&pb);
		return rc;
	}
	*out = ctx;
	return 0;
}

static void av_close(AVFormatContext *ctx)
{
	AVIOContext *pb = ctx->pb;

	avformat_close_input(&ctx);
	avio_closep(&pb);
}

/* The first real video stream (cover art excluded), or -1. */
static int video_stream(const AVFormatContext *ctx)
{
	for (unsigned i = 0; i < ctx->nb_streams; i++) {
		const AVStream *s = ctx->streams[i];

		if (s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
		    !(s->disposition & AV_DISPOSITION_ATTACHED_PIC))
			return (int)i;
	}
	return -1;
}

static void describe(const AVFormatContext *ctx, int vs, struct media_result *out)
{
	size_t len = 0;

	out->duration_s = ctx->duration == AV_NOPTS_VALUE ? -1 : (double)ctx->duration / AV_TIME_BASE;
	out->bitrate = ctx->bit_rate;
	if (vs >= 0) {
		out->width = ctx->streams[vs]->codecpar->width;
		out->height = ctx->streams[vs]->codecpar->height;
	}
	for (unsigned i = 0; i < ctx->nb_streams && len < sizeof(out->codecs) - 1; i++) {
		const AVCodecParameters *p = ctx->streams[i]->codecpar;
		int n;

		if (p->codec_type != AVMEDIA_TYPE_VIDEO && p->codec_type != AVMEDIA_TYPE_AUDIO)
			continue;
		if (p->codec_type == AVMEDIA_TYPE_VIDEO && (int)i != vs)
			continue;
		n = snprintf(out->codecs + len, sizeof(out->codecs) - len, "%s%s", len ? "," : "",
			     avcodec_get_name(p->codec_id));
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Browser recordings (MediaRecorder WebM) carry no duration: read the packets to the end (bounded
 * by the deadline, the CPU limit and the size limit of the upload) and take the last timestamp.
 * -1 when even that finds nothing. */
static double duration_from_packets(AVFormatContext *ctx)
{
	AVPacket *pkt = av_packet_alloc();
	double end = -1;

	if (pkt == NULL)
		return -1;
	while (av_read_frame(ctx, pkt) >= 0) {
		const AVStream *st = ctx->streams[pkt->stream_index];
		int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;

		if (ts != AV_NOPTS_VALUE) {
			double t = (double)(ts + (pkt->duration > 0 ? pkt->duration : 0)) * av_q2d(st->time_base);

			if (st->start_time != AV_NOPTS_VALUE)
				t -= (double)st->start_time * av_q2d(st->time_base);
			if (t > end)
				end = t;
		}
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
	return end;
}

/* Limits from the config; 0 when within them, -1 with out rejected. */
static int check_limits(const struct media_opts *o, struct media_result *out)
{
	bool video = strcmp(out->kind, "video") == 0;
	int max_s = video ? o->max_video_s : o->max_audio_s;

	if (out->duration_s < 0) {
		media_reject(out, "corrupt", "the duration cannot be determined");
		return -1;
	}
	if (out->duration_s > max_s) {
		media_reject(out, "too_long", "%.0f s of %s is over the limit of %d s", out->duration_s,
			     out->kind, max_s);
		return -1;
	}
	if (video && (long long)out->width * out->height > o->max_video_pixels) {
		media_reject(out, "resolution_too_high", "%dx%d is over the limit", out->width,
			     out->height);
		return -1;
	}
	return 0;
}

/* The first decodable frame of stream vs into frame. 0 or -1. */
static int first_frame(AVFormatContext *ctx, int vs, AVCodecContext *dec, AVFrame *frame)
{
	AVPacket *pkt = av_packet_alloc();
	int rc = -1;

	if (pkt == NULL)
		return -1;
	for (int n = 0; n < POSTER_MAX_PACKETS && av_read_frame(ctx, pkt) >= 0; n++) {
		int sent = pkt->stream_index == vs ? avcodec_send_packet(dec, pkt) : -1;

		av_packet_unref(pkt);
		if (sent >= 0 && avcodec_receive_frame(dec, frame) == 0) {
			rc = 0;
			break;
		}
	}
	if (rc != 0 && avcodec_send_packet(dec, NULL) >= 0 && avcodec_receive_frame(dec, frame) == 0)
		rc = 0;
	av_packet_free(&pkt);
	return rc;
}

/* Scales the frame to packed RGB24 and writes the thumb. */
static int frame_to_thumb(const AVFrame *f, const char *out_dir, struct media_result *out)
{
	struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
						AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
	int stride = f->width * 3, rc = -1;
	unsigned char *rgb;

	if (sws == NULL)
		return -1;
	rgb = av_malloc((size_t)stride * (size_t)f->height);
	if (rgb != NULL &&
	    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
		      (uint8_t *const[]){ rgb, NULL, NULL, NULL }, (const int[]){ stride, 0, 0, 0 }) > 0 &&
	    media_image_from_rgb(rgb, f->width, f->height, stride, out_dir,
				 &out->variants[out->nvariants], out->color) == 0) {
		out->nvariants++;
		rc = 0;
	}
	av_free(rgb);
	sws_freeContext(sws);
	return rc;
}

static int poster(AVFormatContext *ctx, int vs, const char *out_dir, struct media_result *out)
{
	const AVCodecParameters *par = ctx->streams[vs]->codecpar;
	const AVCodec *codec = avcodec_find_decoder(par->codec_id);
	AVCodecContext *dec = codec ? avcodec_alloc_context3(codec) : NULL;
	AVFrame *frame = av_frame_alloc();
	int rc = -1;

	if (dec == NULL || frame == NULL || avcodec_parameters_to_context(dec, par) < 0)
		goto out_free;
	dec->thread_count = 1;
	if (avcodec_open2(dec, codec, NULL) < 0 || first_frame(ctx, vs, dec, frame) != 0)
		goto out_free;
	rc = frame_to_thumb(frame, out_dir, out);
out_free:
	av_frame_free(&frame);
	avcodec_free_context(&dec);
	return rc;
}

void media_av(const struct media_opts *o, const char *path, const char *out_dir,
	      struct media_result *out)
{
	time_t deadline = time(NULL) + AV_DEADLINE_S;
	AVFormatContext *ctx = NULL;
	char msg[128];
	int rc, vs;

	av_log_set_level(AV_LOG_QUIET);
	rc = av_open(o, path, &deadline, &ctx);
	if (rc < 0) {
		av_strerror(rc, msg, sizeof(msg));
		media_reject(out, rc == AVERROR_INVALIDDATA ? "unsupported_type" : "corrupt",
			     "not an allowed audio/video container: %s", msg);
		return;
	}
	vs = video_stream(ctx);
	snprintf(out->kind, sizeof(out->kind), "%s", vs >= 0 ? "video" : "audio");
	describe(ctx, vs, out);
	if (out->duration_s < 0 && (out->duration_s = duration_from_packets(ctx)) >= 0 &&
	    av_seek_frame(ctx, -1, 0, AVSEEK_FLAG_BACKWARD) < 0)
		out->duration_s = -1;     /* no way back to the start for the poster */
	if (check_limits(o, out) == 0) {
		if (vs >= 0 && poster(ctx, vs, out_dir, out) != 0)
			media_reject(out, "corrupt", "no video frame could be decoded");
		else
			out->outcome = MEDIA_READY;
	}
	av_close(ctx);
}
