/* uploads: tus 1.0 upload state — creation, offsets, parts renamed into the incoming area, and on
 * completion the acceptance check plus the media asset and its job in the same transaction */
#include <json-c/json.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "files.h"
#include "log.h"
#include "queue.h"
#include "upload_sessions.h"
#include "uploads.h"

#define PATH_CAP 4096

static magic_t magic_handle(void)
{
	static magic_t m;

	if (!m) {
		m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
		if (m && magic_load(m, NULL) != 0) {
			magic_close(m);
			m = NULL;
		}
	}
	return m;
}

static int upload_dir(const struct config *c, const char *tenant, const char *id, char *out)
{
	int n = snprintf(out, PATH_CAP + 64, "%s/%s/%s", c->upload_dir, tenant, id);

	return n < 0 || n >= PATH_CAP ? -1 : 0;
}

/* mkdir 02770 past the umask: atrium-media (group atrium) assembles in an upload's directory
 * and removes its parts and the directory itself. */
static int make_shared_dir(const char *path)
{
	if (mkdir(path, 02770) < 0)
		return errno == EEXIST ? 0 : -1;
	return chmod(path, 02770);
}

static int make_dirs(const struct config *c, const char *tenant, const char *dir)
{
	char t[PATH_CAP];

	snprintf(t, sizeof(t), "%s/%s", c->upload_dir, tenant);
	return make_shared_dir(t) < 0 || make_shared_dir(dir) < 0 ? -1 : 0;
}

/* A spooled chunk is nginx's (owner and group atrium-web): hand it to the incoming area's group
 * (atrium, setgid), so that atrium-media may read it. */
static int share_part(const char *body_file, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0 || chown(body_file, (uid_t)-1, st.st_gid) < 0)
		return -1;
	return chmod(body_file, 0640);
}

/* Makes a spooled part durable, then drops its (now clean) pages from the page cache. Without
 * the drop, every part of a large upload stays cached: measured here, nginx's spooling of the
 * next chunks fell from ~3.5 GB/s to ~0.3 GB/s as the cache filled with parts (the writer then
 * reclaims memory itself), which made a tus PATCH take 3x the time of the bare spool. The parts
 * are read again only by atrium-media, later, once. */
static int make_durable(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	if (rc == 0)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);   /* advice only: never fails the part */
	close(fd);
	return rc;
}

/* Removes an upload's parts (files we named) and its directory. */
static void remove_parts(const struct config *c, const char *tenant, const char *id)
{
	char dir[PATH_CAP];

	if (upload_dir(c, tenant, id, dir) == 0)
		files_remove_dir(dir);
}

static void fill(struct tus_upload *u, const PGresult *res)
{
	u->id = db_val(res, 0, 0);
	u->length = db_int(res, 0, 1);
	u->offset = db_int(res, 0, 2);
	u->expires = (time_t)db_int(res, 0, 3);
	u->filename = db_val(res, 0, 4);
	u->parts = (int)db_int(res, 0, 5);
	u->asset_id = NULL;
}

err_t uploads_create(db_t *db, arena_t *a, const struct config *c, const char *tenant,
		     const char *key_id, int64_t length, const struct tus_meta *m,
		     struct tus_upload *u, struct problem *p)
{
	char id[UUID_STRLEN], len[24], ttl[24];
	const char *why;
	PGresult *res;
	err_t e;

	if (length > (int64_t)c->upload_max_mb * 1024 * 1024)
		return err_set(p, a, ERR_TOO_LARGE, "Upload-Length is over the limit of %d MiB",
			       c->upload_max_mb);
	if (!m->filename)
		return err_set(p, a, ERR_BAD_REQUEST, "Upload-Metadata must carry a filename");
	if ((why = uploads_filename_problem(m->filename, m->filename_len)) != NULL)
		return err_set(p, a, ERR_VALIDATION, "the file name is not acceptable (%s)", why);
	if (m->field && (m->field_len == 0 || m->field_len > 64 ||
			 strspn(m->field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
				 m->field_len))
		return err_set(p, a, ERR_VALIDATION, "the field name in Upload-Metadata is not valid");
	crypto_uuid7(id);
	snprintf(len, sizeof(len), "%" PRId64, length);
	snprintf(ttl, sizeof(ttl), "%d", c->upload_expire_s);
	e = db_q(db, a, &res,
		 "INSERT INTO uploads (tenant_id, id, created_by, field, filename, filetype,"
		 " upload_length, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7,"
		 " now() + make_interval(secs => $8::int))"
		 " RETURNING id, upload_length, upload_offset, extract(epoch from expires_at)::bigint,"
		 " filename, parts",
		 tenant, id, key_id, m->field, m->filename,
		 m->filetype && m->filetype_len < 128 && !memchr(m->filetype, 0, m->filetype_len)
			 ? m->filetype : NULL,
		 len, ttl);
	if (e != ERR_OK)
		return e;
	fill(u, res);
	return ERR_OK;
}

/* The upload row, locked for this transaction when lock is set: a concurrent PATCH holding it
 * makes this one fail at once (NOWAIT) with 409. */
static err_t load(db_t *db, arena_t *a, const char *tenant, const char *id, bool lock,
		  struct tus_upload *u, struct problem *p)
{
	PGresult *res;
	err_t e = db_exec(db, a, &res,
			  lock ? "SELECT id, upload_length, upload_offset,"
				 " extract(epoch from expires_at)::bigint, filename, parts,"
				 " expires_at < now(), completed_at IS NOT NULL FROM uploads"
				 " WHERE tenant_id = $1 AND id = $2 FOR UPDATE NOWAIT"
			       : "SELECT id, upload_length, upload_offset,"
				 " extract(epoch from expires_at)::bigint, filename, parts,"
				 " expires_at < now(), completed_at IS NOT NULL FROM uploads"
				 " WHERE tenant_id = $1 AND id = $2",
			  2, (const char *const[]){ tenant, id });

	if (e != ERR_OK && strcmp(db_last_sqlstate(db), "55P03") == 0)
		return err_set(p, a, ERR_CONFLICT, "another request is writing to this upload");
	if (e != ERR_OK)
		return e;
	if (PQntuples(res) == 0)
		return err_set(p, a, ERR_NOT_FOUND, "no such upload");
	fill(u, res);
	if (db_bool(res, 0, 6) && !db_bool(res, 0, 7))
		return err_set(p, a, ERR_GONE, "this upload has expired");
	return ERR_OK;
}

err_t uploads_head(db_t *db, arena_t *a, const char *tenant, const char *id,
		   struct tus_upload *u, struct problem *p)
{
	return load(db, a, tenant, id, false, u, p);
}

/* Moves the spooled chunk into place as the part at offset and makes it durable. */
static err_t take_part(const struct config *c, arena_t *a, const char *tenant, const char *id,
		       int64_t offset, const char *body_file, struct problem *p)
{
	char dir[PATH_CAP], part[PATH_CAP + 32];

	if (upload_dir(c, tenant, id, dir) < 0 || make_dirs(c, tenant, dir) < 0)
		return err_set(p, a, ERR_INTERNAL, "the incoming area is not writable");
	snprintf(part, sizeof(part), "%s/%020" PRId64, dir, offset);
	/* nginx spools 0600; the media worker reads parts through the shared group */
	if (share_part(body_file, dir) < 0 || make_durable(body_file) < 0 || rename(body_file, part) < 0) {
		log_error("uploads_part_rename_failed", LF_STR("error", strerror(errno)));
		return errno == ENOSPC ? ERR_INSUFFICIENT_STORAGE : ERR_INTERNAL;
	}
	if (files_fsync_path(dir, O_RDONLY | O_DIRECTORY) < 0)
		return ERR_INTERNAL;
	return ERR_OK;
}

/* The whole file of the upload in dir: the only part when there is one, else the parts
 * concatenated (in the kernel, copy_file_range) into <dir>/data, each part removed once copied.
 * Its path into out. */
static err_t assemble_dir(const char *dir, int parts, int64_t length, char out[PATH_CAP + 64])
{
	char part[PATH_CAP + 32];
	int dst;

	if (parts == 1) {
		snprintf(out, PATH_CAP + 64, "%s/%020d", dir, 0);
		return ERR_OK;
	}
	snprintf(out, PATH_CAP + 64, "%s/data", dir);
	dst = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (dst < 0)
		return ERR_INTERNAL;
	for (int64_t off = 0; off < length;) {
		struct stat st;
		int src;

		snprintf(part, sizeof(part), "%s/%020" PRId64, dir, off);
		src = open(part, O_RDONLY | O_CLOEXEC);
		if (src < 0 || fstat(src, &st) < 0 || st.st_size == 0) {
			if (src >= 0)
				close(src);
			close(dst);
			return ERR_INTERNAL;
		}
		for (off_t left = st.st_size; left > 0;) {
			ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t)left, 0);

			if (n <= 0) {
				close(src);
				close(dst);
				return errno == ENOSPC ? ERR_INSUFFICIENT_STORAGE : ERR_INTERNAL;
			}
			left -= n;
		}
		close(src);
		unlink(part);
		off += st.st_size;
	}
	return fsync(dst) < 0 || close(dst) < 0 ? ERR_INTERNAL : ERR_OK;
}

static err_t assemble(const struct config *c, const char *tenant, const char *id, int parts,
		      int64_t length, char out[PATH_CAP + 64])
{
	char dir[PATH_CAP];

	if (upload_dir(c, tenant, id, dir) < 0)
		return ERR_INTERNAL;
	return assemble_dir(dir, parts, length, out);
}

err_t uploads_job_input(arena_t *a, json_object *payload, const char **out)
{
	json_object *v;
	char path[PATH_CAP + 64];
	const char *dir;
	int64_t length;
	int parts;
	err_t e;

	if (json_object_object_get_ex(payload, "path", &v) && json_object_is_type(v, json_type_string)) {
		*out = arena_strdup(a, json_object_get_string(v));
		return ERR_OK;
	}
	if (!json_object_object_get_ex(payload, "dir", &v) || !json_object_is_type(v, json_type_string))
		return ERR_INTERNAL;
	dir = json_object_get_string(v);
	if (dir[0] != '/' || strlen(dir) >= PATH_CAP || strstr(dir, "/.."))
		return ERR_INTERNAL;
	if (!json_object_object_get_ex(payload, "parts", &v) || (parts = json_object_get_int(v)) < 1 ||
	    !json_object_object_get_ex(payload, "length", &v) || (length = json_object_get_int64(v)) < 1)
		return ERR_INTERNAL;
	/* a run that assembled before (and was retried) finds the whole file already there */
	snprintf(path, sizeof(path), "%s/data", dir);
	if (parts > 1 && access(path, F_OK) == 0) {
		struct stat st;

		if (stat(path, &st) == 0 && st.st_size == length) {
			*out = arena_strdup(a, path);
			return ERR_OK;
		}
	}
	if ((e = assemble_dir(dir, parts, length, path)) != ERR_OK)
		return e;
	*out = arena_strdup(a, path);
	return ERR_OK;
}

/* Office documents are judged by their zip directory at the end of the file, so they are
 * assembled here (documents are small); every other type is judged on its first part (libmagic
 * and signatures read the head) and its parts are left for atrium-media to assemble: the request
 * path writes each byte once. */
static bool whole_file_check(const struct tus_upload *u)
{
	char ext[16];

	uploads_extension(u->filename, ext, sizeof(ext));
	return u->parts == 1 || strcmp(ext, "docx") == 0 || strcmp(ext, "xlsx") == 0 ||
	       strcmp(ext, "pptx") == 0;
}

/* The completing request's cheap work: assemble, check, then the asset row ('uploaded') and its
 * media job in this transaction. A rejection deletes the bytes and answers 422 with the reason. */
static err_t complete(db_t *db, arena_t *a, const struct config *c, const char *tenant,
		      struct tus_upload *u, struct problem *p)
{
	char path[PATH_CAP + 64], dir[PATH_CAP], asset[UUID_STRLEN], size[24], job[UUID_STRLEN];
	struct upload_verdict v;
	magic_t m = magic_handle();
	PGresult *res;
	err_t e;

	if (!m)
		return err_set(p, a, ERR_INTERNAL, "libmagic is not available");
	if (whole_file_check(u)) {
		if ((e = assemble(c, tenant, u->id, u->parts, u->length, path)) != ERR_OK)
			return e;
	} else if (upload_dir(c, tenant, u->id, dir) < 0) {
		return ERR_INTERNAL;
	} else {
		snprintf(path, sizeof(path), "%s/%020d", dir, 0);
	}
	/* a session's upload is judged by its field's accept list and size (upload_sessions.c) */
	const char **accept;
	size_t naccept;
	int64_t max_size;

	if ((e = upload_field_rules(db, a, tenant, u->id, &accept, &naccept, &max_size)) != ERR_OK)
		return e;
	uploads_validate(m, path, u->length, u->filename, accept, naccept, max_size, &v);
	if (v.reason) {
		remove_parts(c, tenant, u->id);
		upload_forget_rejected(db, a, tenant, u->id);   /* its bytes leave the quota too */
		e = err_set(p, a, ERR_VALIDATION, "the file was rejected (%s): %s", v.reason, v.detail);
		return err_field(p, a, "file", "%s", v.reason);
	}
	crypto_uuid7(asset);
	snprintf(size, sizeof(size), "%" PRId64, u->length);
	e = db_q(db, a, &res,
		 "WITH up AS (UPDATE uploads SET completed_at = now() WHERE tenant_id = $1 AND id = $2"
		 " RETURNING field, filename, created_by, session_id)"
		 " INSERT INTO media_assets (tenant_id, id, upload_id, session_id, flow_id, flow_version,"
		 " field, filename, mime, kind, size, created_by)"
		 " SELECT $1, $3, $2, up.session_id, s.flow_id, s.flow_version, up.field, up.filename, $4,"
		 " $5, $6, up.created_by FROM up LEFT JOIN upload_sessions s ON s.tenant_id = $1"
		 " AND s.id = up.session_id",
		 tenant, u->id, asset, v.mime, v.kind, size);
	if (e != ERR_OK)
		return e;
	json_object *pl = json_object_new_object();

	json_object_object_add(pl, "asset_id", json_object_new_string(asset));
	if (upload_dir(c, tenant, u->id, dir) < 0)
		return ERR_INTERNAL;
	json_object_object_add(pl, "dir", json_object_new_string(dir));
	json_object_object_add(pl, "parts", json_object_new_int(u->parts));
	json_object_object_add(pl, "length", json_object_new_int64(u->length));
	if (whole_file_check(u))
		json_object_object_add(pl, "path", json_object_new_string(path));
	struct job_spec spec = { tenant, "media", "media.process",
				 arena_strdup(a, json_object_to_json_string(pl)), asset, 0, 0 };

	json_object_put(pl);
	if ((e = queue_enqueue(db, a, &spec, job, p)) != ERR_OK)
		return e;
	u->asset_id = arena_strdup(a, asset);
	return ERR_OK;
}

err_t uploads_append(db_t *db, arena_t *a, const struct config *c, const char *tenant,
		     const char *id, int64_t offset, const char *body_file, int64_t body_len,
		     const struct tus_checksum *ck, struct tus_upload *u, struct problem *p)
{
	err_t e = load(db, a, tenant, id, true, u, p);
	char newoff[24];

	if (e != ERR_OK)
		return e;
	if (offset != u->offset)
		return err_set(p, a, ERR_CONFLICT, "Upload-Offset is %" PRId64 "; the upload is at %" PRId64,
			       offset, u->offset);
	if (body_len > u->length - u->offset)
		return err_set(p, a, ERR_TOO_LARGE, "the chunk goes past Upload-Length");
	if (body_len > 0 && ck && !tus_checksum_matches(body_file, ck))
		return err_set(p, a, ERR_CHECKSUM, "the chunk does not match Upload-Checksum");
	if (body_len > 0) {
		if ((e = take_part(c, a, tenant, id, offset, body_file, p)) != ERR_OK)
			return e;
		u->offset += body_len;
		u->parts++;
		snprintf(newoff, sizeof(newoff), "%" PRId64, u->offset);
		PGresult *res;

		e = db_q(db, a, &res, "UPDATE uploads SET upload_offset = $3, parts = parts + 1"
				      " WHERE tenant_id = $1 AND id = $2", tenant, id, newoff);
		if (e != ERR_OK)
			return e;
	}
	if (u->offset == u->length && u->length > 0)
		return complete(db, a, c, tenant, u, p);
	return ERR_OK;
}

err_t uploads_terminate(db_t *db, arena_t *a, const struct config *c, const char *tenant,
			const char *id, struct problem *p)
{
	struct tus_upload u;
	PGresult *res;
	err_t e = load(db, a, tenant, id, true, &u, p);

	if (e != ERR_OK && e != ERR_GONE)
		return e;
	e = db_q(db, a, &res, "DELETE FROM uploads WHERE tenant_id = $1 AND id = $2"
			      " AND completed_at IS NULL", tenant, id);
	if (e != ERR_OK)
		return e;
	if (PQcmdTuples(res)[0] == '0')
		return err_set(p, a, ERR_CONFLICT, "a completed upload is a media asset; delete that");
	remove_parts(c, tenant, id);
	return ERR_OK;
}

void uploads_discard_parts(const struct config *c, const char *tenant, const char *id)
{
	remove_parts(c, tenant, id);
}
