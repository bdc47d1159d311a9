-- 001_init: tenants, API keys, flows and their published versions; row-level security on every tenant table.
-- Runs as atrium_owner (owns every table). atrium_app serves requests, atrium_worker runs jobs:
-- both are NOSUPERUSER NOBYPASSRLS and own nothing, so the policies below always apply to them.

-- The tenant of the current transaction, or NULL when none was set (never an error).
CREATE FUNCTION atrium_tenant() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'creator', 'developer', 'viewer')),
    prefix       text NOT NULL,
    secret_hash  text NOT NULL,            -- hex SHA-256 of the secret part; the key itself is shown once
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    revoked_by   uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES api_keys (tenant_id, id) ON DELETE SET NULL (created_by)
);

CREATE TABLE flows (
    tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                uuid NOT NULL,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    definition        jsonb NOT NULL,      -- {"uploads": {...}, "steps": [...]}, validated in services/flows.c
    published_version integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_by        uuid,
    updated_by        uuid,
    PRIMARY KEY (tenant_id, id)
);

-- Immutable snapshots: sessions, uploads and submissions bind to one of these (DESIGN §6).
CREATE TABLE flow_versions (
    tenant_id    uuid NOT NULL,
    flow_id      uuid NOT NULL,
    version      integer NOT NULL CHECK (version > 0),
    name         text NOT NULL,
    definition   jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by uuid,
    PRIMARY KEY (tenant_id, flow_id, version),
    FOREIGN KEY (tenant_id, flow_id) REFERENCES flows (tenant_id, id) ON DELETE CASCADE
);

CREATE FUNCTION flow_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'flow versions are immutable' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER flow_versions_no_update BEFORE UPDATE ON flow_versions
    FOR EACH ROW EXECUTE FUNCTION flow_versions_immutable();

-- Row-level security: the second wall behind every query's own tenant filter.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE flows ENABLE ROW LEVEL SECURITY;
ALTER TABLE flow_versions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = atrium_tenant());
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON flows
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON flow_versions
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

-- The lookups that find the tenant before it is known (DESIGN §8). They return only what the
-- caller needs, and run as the owner, so they are the only way around the policies.
CREATE FUNCTION atrium_api_key_lookup(p_id uuid)
RETURNS TABLE (tenant_id uuid, role text, secret_hash text, revoked boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.tenant_id, k.role, k.secret_hash, k.revoked_at IS NOT NULL
    FROM api_keys k WHERE k.id = p_id
$$;

CREATE FUNCTION atrium_published_flow_tenant(p_flow uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT f.tenant_id FROM flows f WHERE f.id = p_flow AND f.published_version IS NOT NULL
$$;

REVOKE ALL ON FUNCTION atrium_api_key_lookup(uuid), atrium_published_flow_tenant(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_api_key_lookup(uuid), atrium_published_flow_tenant(uuid)
    TO atrium_app, atrium_worker;

GRANT SELECT ON tenants TO atrium_app, atrium_worker;
GRANT SELECT, INSERT, UPDATE ON api_keys TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON flows TO atrium_app;
GRANT SELECT, INSERT, DELETE ON flow_versions TO atrium_app;
GRANT SELECT ON api_keys, flows, flow_versions TO atrium_worker;
