/* media_scan: ClamAV's clamd over its unix socket, INSTREAM (clamd(8)); nothing over the limits passes */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "media_pipeline.h"

#define SCAN_CHUNK 65536

static int clamd_connect(const char *socket_path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Streams the file as INSTREAM chunks. clamd may close early ("size limit exceeded"): a send
 * failure is then not an error, the reply says what happened. */
static int stream_file(int sock, int file)
{
	unsigned char buf[4 + SCAN_CHUNK];
	uint32_t len;
	ssize_t r;

	for (;;) {
		r = read(file, buf + 4, SCAN_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		len = htonl((uint32_t)r);
		memcpy(buf, &len, 4);
		if (send_all(sock, buf, 4 + (size_t)r) != 0)
			return 0;
		if (r == 0)
			return 0;
	}
}

static ssize_t read_reply(int sock, char *reply, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap - 1) {
		r = recv(sock, reply + n, cap - 1 - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(reply, '\0', n) != NULL)
			break;
	}
	reply[n] = '\0';
	return (ssize_t)n;
}

/* Reads "stream: OK", "stream: <sig> FOUND" or "INSTREAM size limit exceeded. ERROR". */
static err_t parse_reply(const char *reply, bool *clean, char *signature, size_t sigcap)
{
	const char *body = reply;
	size_t n;

	if (strncmp(body, "stream: ", 8) == 0)
		body += 8;
	n = strlen(body);
	if (strcmp(body, "OK") == 0) {
		*clean = true;
		return ERR_OK;
	}
	if (n > 6 && strcmp(body + n - 6, " FOUND") == 0) {
		snprintf(signature, sigcap, "%.*s", (int)(n - 6), body);
		return ERR_OK;
	}
	if (strstr(reply, "size limit exceeded") != NULL) {
		snprintf(signature, sigcap, "size limit exceeded");
		return ERR_OK;
	}
	return ERR_UNAVAILABLE;
}

err_t media_scan_clamd(const char *socket_path, const char *path, int timeout_ms, bool *clean,
		       char *signature, size_t sigcap)
{
	static const char cmd[] = "zINSTREAM";
	char reply[256];
	err_t rc = ERR_UNAVAILABLE;
	int sock, file;

	*clean = false;
	signature[0] = '\0';
	file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0)
		return ERR_INTERNAL;
	sock = clamd_connect(socket_path, timeout_ms);
	if (sock < 0)
		goto out_close_file;
	if (send_all(sock, cmd, sizeof(cmd)) != 0 || stream_file(sock, file) != 0)
		goto out_close_sock;
	if (read_reply(sock, reply, sizeof(reply)) <= 0)
		goto out_close_sock;
	rc = parse_reply(reply, clean, signature, sigcap);
out_close_sock:
	close(sock);
out_close_file:
	close(file);
	return rc;
}
