-- 003_secrets_integrations: sealed secrets under per-tenant data keys (DESIGN §5), the append-only
-- audit log, integrations and their runs. Runs as atrium_owner; atriumctl (as the owner) rewraps
-- data keys across tenants when a master key is rotated.

-- One data key per tenant (and version), wrapped with AES-256-GCM under master key kek_version.
CREATE TABLE data_keys (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version     integer NOT NULL CHECK (version >= 1),
    kek_version integer NOT NULL CHECK (kek_version >= 1),
    wrapped     bytea NOT NULL CHECK (length(wrapped) = 60),   -- nonce 12 || key 32 || tag 16
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz,
    PRIMARY KEY (tenant_id, version)
);
CREATE INDEX data_keys_kek ON data_keys (kek_version);

-- A sealed value: nonce 12 || ciphertext || tag 16 under the tenant's data key dek_version; the
-- AAD binds it to (tenant, owner_table, owner_id, field), so a copy elsewhere does not open.
CREATE TABLE secrets (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    owner_table  text NOT NULL CHECK (owner_table ~ '^[a-z][a-z0-9_]{0,62}$'),
    owner_id     uuid NOT NULL,
    field        text NOT NULL CHECK (length(field) BETWEEN 1 AND 200),
    dek_version  integer NOT NULL,
    sealed       bytea NOT NULL CHECK (length(sealed) BETWEEN 28 AND 70000),
    created_by   uuid,
    updated_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    last_used_by uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, dek_version) REFERENCES data_keys (tenant_id, version)
);
CREATE INDEX secrets_owner ON secrets (tenant_id, owner_table, owner_id);

-- Append-only: the application and the workers may insert and read; nobody updates or deletes
-- (the trigger refuses it even for the owner; the janitor keeps it).
CREATE TABLE audit_log (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    actor       uuid,                                  -- API key id; NULL = the system
    action      text NOT NULL CHECK (action IN ('create', 'update', 'reveal', 'rotate', 'delete',
                                                 'failed_decrypt')),
    target_type text NOT NULL CHECK (target_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    target_id   uuid,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_target ON audit_log (tenant_id, target_type, target_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Integrations: config holds plain fields and {"secret_ref": "<uuid>"} for secret ones.
CREATE TABLE integrations (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    type         text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,31}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    config       jsonb NOT NULL DEFAULT '{}',
    events       text[] NOT NULL DEFAULT '{}',
    flow_id      uuid,
    active       boolean NOT NULL DEFAULT true,
    created_by   uuid,
    updated_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    last_used_by uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, id) ON DELETE SET NULL (flow_id)
);
CREATE INDEX integrations_events ON integrations USING gin (events);

-- One row per attempt of an integration action (test or event), with redacted excerpts.
CREATE TABLE integration_runs (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL,
    integration_id   uuid NOT NULL,
    job_id           uuid NOT NULL,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    trigger          text NOT NULL CHECK (length(trigger) BETWEEN 1 AND 100),
    status           text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    http_status      integer,
    request_excerpt  text CHECK (length(request_excerpt) <= 2000),
    response_excerpt text CHECK (length(response_excerpt) <= 2000),
    error            text CHECK (length(error) <= 2000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, integration_id) REFERENCES integrations (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX integration_runs_integration ON integration_runs (tenant_id, integration_id, id);

ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE integration_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON data_keys
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON secrets
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON integrations
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON integration_runs
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

GRANT SELECT, INSERT ON data_keys TO atrium_app, atrium_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON secrets TO atrium_app, atrium_worker;
GRANT SELECT, INSERT ON audit_log TO atrium_app, atrium_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON integrations TO atrium_app;
GRANT SELECT, UPDATE ON integrations TO atrium_worker;
GRANT SELECT ON integration_runs TO atrium_app;
GRANT SELECT, INSERT ON integration_runs TO atrium_worker;
