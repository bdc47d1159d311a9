-- 006_media_processing: what atrium-media found for each asset (scanner, type, limits, preview
-- metadata, variants). One row per asset, rewritten by each processing run (reprocess included).
-- Runs as atrium_owner. asset_id names the asset of 005 (media assets); that table keeps the
-- asset's state, this one the processing record.

CREATE TABLE media_results (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    asset_id        uuid NOT NULL,
    state           text NOT NULL CHECK (state IN ('processing', 'ready', 'rejected')),
    reason          text CHECK (reason IS NULL OR reason ~ '^[a-z_]{1,32}$'),
    detail          text CHECK (detail IS NULL OR length(detail) <= 200),
    scanner         text CHECK (scanner IS NULL OR scanner IN ('clamd', 'none')),
    signature       text CHECK (signature IS NULL OR length(signature) <= 96),
    kind            text CHECK (kind IS NULL OR kind IN ('image', 'video', 'audio', 'document')),
    mime            text CHECK (mime IS NULL OR length(mime) <= 64),
    width           integer CHECK (width IS NULL OR width >= 0),
    height          integer CHECK (height IS NULL OR height >= 0),
    frames          integer CHECK (frames IS NULL OR frames >= 0),
    duration_ms     bigint CHECK (duration_ms IS NULL OR duration_ms >= 0),
    bitrate         bigint CHECK (bitrate IS NULL OR bitrate >= 0),
    codecs          text CHECK (codecs IS NULL OR length(codecs) <= 64),
    page_count      integer CHECK (page_count IS NULL OR page_count >= 0),
    color           text CHECK (color IS NULL OR color ~ '^#[0-9a-f]{6}$'),
    variants        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(variants) = 'array'),
    peak_rss_kb     bigint,                      -- the decoding child's, for operators and tests
    runs            integer NOT NULL DEFAULT 1 CHECK (runs >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, asset_id)
);

CREATE INDEX media_results_state ON media_results (tenant_id, state, updated_at);

ALTER TABLE media_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON media_results
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

GRANT SELECT ON media_results TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON media_results TO atrium_worker;
