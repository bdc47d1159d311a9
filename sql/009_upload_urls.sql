-- 009_upload_urls: single-use signed upload URLs (POST /v1/media/upload-url). The URL's HMAC
-- (services/uploads_single.c) binds method, path (tenant and this row's id), max size and expiry;
-- this row makes it single-use: the PUT that stores a file sets used_at in the transaction that
-- creates the asset, so a second PUT (even a concurrent one) finds it spent. Runs as atrium_owner.
CREATE TABLE upload_urls (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          uuid NOT NULL,
    created_by  uuid,                                      -- the API key that asked for it
    field       text CHECK (field IS NULL OR field ~ '^[A-Za-z0-9_.-]{1,64}$'),
    filename    text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    filetype    text CHECK (filetype IS NULL OR length(filetype) <= 127),
    max_size    bigint NOT NULL CHECK (max_size > 0),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    asset_id    uuid,                                      -- the asset its PUT created
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK ((used_at IS NULL) = (asset_id IS NULL))
);
CREATE INDEX upload_urls_expiry ON upload_urls (expires_at);

ALTER TABLE upload_urls ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON upload_urls
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

GRANT SELECT, INSERT, UPDATE ON upload_urls TO atrium_app;
GRANT SELECT, DELETE ON upload_urls TO atrium_worker;
