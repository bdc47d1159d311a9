/* handlers: every HTTP handler of atrium-fcgi, one file per resource under fcgi/ */
#ifndef ATRIUM_HANDLERS_H
#define ATRIUM_HANDLERS_H

#include "json.h"
#include "request.h"

/* fcgi/health.c */
err_t h_ping(struct req *r);
err_t h_health(struct req *r);

/* fcgi/api_keys.c */
extern const struct jv_field api_key_body[];
err_t h_me(struct req *r);
err_t h_api_keys_list(struct req *r);
err_t h_api_keys_create(struct req *r);
err_t h_api_keys_get(struct req *r);
err_t h_api_keys_revoke(struct req *r);

/* fcgi/flows.c */
err_t h_flows_list(struct req *r);
err_t h_flows_create(struct req *r);
err_t h_flows_get(struct req *r);
err_t h_flows_update(struct req *r);
err_t h_flows_delete(struct req *r);
err_t h_flows_publish(struct req *r);
err_t h_flows_unpublish(struct req *r);
err_t h_flows_versions(struct req *r);
err_t h_flows_version(struct req *r);
err_t h_public_flow(struct req *r);

/* -- integrations and secrets: fcgi/integrations.c, fcgi/audit.c -- */
extern const struct jv_field integration_body[], integration_patch_body[], integration_test_body[];
err_t h_integration_types(struct req *r);
err_t h_integrations_list(struct req *r);
err_t h_integrations_create(struct req *r);
err_t h_integrations_get(struct req *r);
err_t h_integrations_update(struct req *r);
err_t h_integrations_delete(struct req *r);
err_t h_integrations_test(struct req *r);
err_t h_integrations_runs(struct req *r);
err_t h_audit_log(struct req *r);

/* -- webhooks: fcgi/webhooks.c -- */
extern const struct jv_field webhook_body[], webhook_patch_body[], webhook_replay_body[];
err_t h_webhook_event_types(struct req *r);
err_t h_webhooks_list(struct req *r);
err_t h_webhooks_create(struct req *r);
err_t h_webhooks_get(struct req *r);
err_t h_webhooks_update(struct req *r);
err_t h_webhooks_delete(struct req *r);
err_t h_webhooks_rotate(struct req *r);
err_t h_webhooks_secret(struct req *r);
err_t h_webhooks_test(struct req *r);
err_t h_webhooks_replay(struct req *r);
err_t h_webhook_deliveries(struct req *r);
err_t h_webhook_delivery(struct req *r);
err_t h_webhook_delivery_retry(struct req *r);

/* -- upload sessions, tus and media: fcgi/uploads.c, fcgi/media.c -- */
err_t h_tus_create(struct req *r);
err_t h_tus_head(struct req *r);
err_t h_tus_patch(struct req *r);
err_t h_tus_delete(struct req *r);
err_t h_tus_options(struct req *r);
/* Who a tus upload is created for: a creator's API key (/v1/uploads) or an end user's session
 * (/v1/public/uploads; admit checks the session's limits once the headers are parsed). */
struct tus_meta;
struct tus_owner {
	const char *base;          /* the prefix of the upload's URL (Location) */
	const char *key_id;        /* the creator's API key, or NULL */
	const char *session_id;    /* the upload session, or NULL */
	err_t (*admit)(struct req *r, int64_t length, const struct tus_meta *m);
};
err_t tus_create_as(struct req *r, const struct tus_owner *o);
/* public upload sessions: fcgi/public_uploads.c */
err_t h_public_session_create(struct req *r);
err_t h_public_upload_auth(struct req *r);
err_t h_public_tus_create(struct req *r);
err_t h_public_tus_head(struct req *r);
err_t h_public_tus_patch(struct req *r);
err_t h_public_tus_delete(struct req *r);
err_t h_media_list(struct req *r);
err_t h_media_get(struct req *r);
/* single-request uploads and signed upload URLs: fcgi/uploads_single.c */
extern const struct jv_field upload_url_body[];
err_t h_media_upload(struct req *r);
err_t h_media_upload_url(struct req *r);
err_t h_media_signed_put(struct req *r);
err_t h_media_signed_options(struct req *r);
err_t h_media_signed_check(struct req *r);
/* media processing: fcgi/media_processing.c */
err_t h_media_reprocess(struct req *r);
/* the bytes of media: fcgi/media_files.c */
extern const struct jv_field media_download_body[];
err_t h_media_delete(struct req *r);
err_t h_media_download_url(struct req *r);
err_t h_media_content(struct req *r);

/* Reads ?limit= and ?cursor= for keyset-paged lists (fcgi/flows.c). */
err_t page_params(struct req *r, int *limit, const char **cursor) MUSTCHECK;

#endif
