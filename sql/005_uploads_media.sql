-- 005_uploads_media: upload sessions of published flows, resumable (tus) uploads and the media
-- assets they become (DESIGN §6). Runs as atrium_owner. An asset's processing record is in 006
-- (media_results); its bytes are in the StorageAdapter under t/<tenant>/media/<asset>/<variant>.

-- An end user's session on a published flow version: its token (uploads_token.c) carries these
-- ids and expires_at; limits are copied from the version's "uploads" with config defaults.
CREATE TABLE upload_sessions (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    flow_id         uuid NOT NULL,
    flow_version    integer NOT NULL,
    max_files       integer NOT NULL CHECK (max_files BETWEEN 0 AND 1000),
    max_total_bytes bigint NOT NULL CHECK (max_total_bytes >= 0),
    used_files      integer NOT NULL DEFAULT 0 CHECK (used_files >= 0),
    used_bytes      bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, flow_id, flow_version)
        REFERENCES flow_versions (tenant_id, flow_id, version) ON DELETE CASCADE,
    CHECK (used_files <= max_files AND used_bytes <= max_total_bytes)
);
CREATE INDEX upload_sessions_expiry ON upload_sessions (expires_at);

-- One tus upload in progress: parts are spooled chunks renamed into the incoming area as
-- <incoming>/<tenant>/<id>/<offset>; upload_offset moves only after a part is durable.
CREATE TABLE uploads (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    session_id    uuid,                                  -- NULL: a creator's upload (API key)
    created_by    uuid,                                  -- the API key, for creators' uploads
    field         text CHECK (field IS NULL OR field ~ '^[A-Za-z0-9_.-]{1,64}$'),
    filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    filetype      text CHECK (filetype IS NULL OR length(filetype) <= 127),
    upload_length bigint NOT NULL CHECK (upload_length >= 0),
    upload_offset bigint NOT NULL DEFAULT 0 CHECK (upload_offset >= 0),
    parts         integer NOT NULL DEFAULT 0 CHECK (parts >= 0),
    expires_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES upload_sessions (tenant_id, id) ON DELETE CASCADE,
    CHECK (upload_offset <= upload_length)
);
CREATE INDEX uploads_session ON uploads (tenant_id, session_id);
CREATE INDEX uploads_expiry ON uploads (expires_at) WHERE completed_at IS NULL;

-- A media asset: uploaded -> processing -> ready | rejected (reason). Only ready assets are served.
CREATE TABLE media_assets (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    upload_id    uuid,
    session_id   uuid,
    flow_id      uuid,
    flow_version integer,
    field        text CHECK (field IS NULL OR field ~ '^[A-Za-z0-9_.-]{1,64}$'),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    mime         text NOT NULL CHECK (length(mime) BETWEEN 3 AND 127),
    kind         text NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'document')),
    size         bigint NOT NULL CHECK (size > 0),
    state        text NOT NULL DEFAULT 'uploaded'
                 CHECK (state IN ('uploaded', 'processing', 'ready', 'rejected')),
    reason       text CHECK (reason IS NULL OR reason ~ '^[a-z_]{1,32}$'),
    stored       boolean NOT NULL DEFAULT false,     -- the original is in the StorageAdapter
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, upload_id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES upload_sessions (tenant_id, id) ON DELETE SET NULL (session_id),
    CHECK ((state = 'rejected') = (reason IS NOT NULL))
);
CREATE INDEX media_assets_list ON media_assets (tenant_id, id DESC);
CREATE INDEX media_assets_state ON media_assets (tenant_id, state, id DESC);
CREATE INDEX media_assets_flow ON media_assets (tenant_id, flow_id, id DESC);
CREATE INDEX media_assets_session ON media_assets (tenant_id, session_id, id DESC);

-- Each tenant's byte quota and what its assets and open uploads hold against it.
CREATE TABLE storage_quotas (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    quota_bytes bigint NOT NULL CHECK (quota_bytes >= 0),
    used_bytes  bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0)
);

ALTER TABLE upload_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE media_assets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON upload_sessions
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON uploads
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON media_assets
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON storage_quotas
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON upload_sessions, uploads, media_assets TO atrium_app;
GRANT SELECT, INSERT, UPDATE ON storage_quotas TO atrium_app;
GRANT SELECT, UPDATE, DELETE ON upload_sessions, uploads, media_assets, storage_quotas TO atrium_worker;
