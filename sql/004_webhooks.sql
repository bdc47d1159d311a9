-- 004_webhooks: webhook endpoints (signing secrets sealed in secrets), deliveries (each one is a
-- job on the "webhooks" queue: its state, attempt count, next time and last error live there) and
-- every delivery attempt with a redacted copy of the payload sent (DESIGN §7).

CREATE TABLE webhook_endpoints (
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    url                text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    description        text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types        text[] NOT NULL DEFAULT '{}',          -- empty = every catalogued type
    active             boolean NOT NULL DEFAULT true,
    headers            jsonb NOT NULL DEFAULT '{}',           -- {"Name": "value"} or {"Name": {"secret_ref": ...}}
    secret_ref         uuid NOT NULL,                         -- the current signing secret
    old_secret_ref     uuid,                                  -- still signed with until old_expires_at
    old_expires_at     timestamptz,
    disabled_reason    text CHECK (length(disabled_reason) <= 500),
    created_by         uuid,
    updated_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_endpoints_types ON webhook_endpoints USING gin (event_types);

-- One delivery of one event to one endpoint; id is the id of its job.
CREATE TABLE webhook_deliveries (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL CHECK (length(event_type) <= 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, endpoint_id, event_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, id);

CREATE TABLE webhook_attempts (
    tenant_id        uuid NOT NULL,
    id               uuid NOT NULL,
    delivery_id      uuid NOT NULL,
    n                integer NOT NULL CHECK (n >= 1),
    trigger          text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    duration_ms      integer NOT NULL CHECK (duration_ms >= 0),
    status_code      integer NOT NULL DEFAULT 0,                  -- 0 when no response
    response_excerpt text CHECK (length(response_excerpt) <= 4096),
    error            text CHECK (length(error) <= 2000),
    request_payload  jsonb NOT NULL,                              -- redacted
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, delivery_id, n);
CREATE INDEX webhook_attempts_created ON webhook_attempts (created_at);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO atrium_app;
GRANT SELECT, UPDATE ON webhook_endpoints TO atrium_worker;
GRANT SELECT, INSERT ON webhook_deliveries TO atrium_app, atrium_worker;
GRANT SELECT ON webhook_attempts TO atrium_app;
GRANT SELECT, INSERT, DELETE ON webhook_attempts TO atrium_worker;

-- The janitor's purge of attempts past the retention period, across tenants (runs as the owner,
-- whom row-level security does not restrict). Returns how many rows it deleted.
CREATE FUNCTION atrium_webhook_attempts_purge(p_days integer, p_limit integer) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH old AS (
        SELECT tenant_id, id FROM webhook_attempts
        WHERE created_at < now() - make_interval(days => p_days)
        ORDER BY created_at LIMIT p_limit),
    d AS (DELETE FROM webhook_attempts w USING old
          WHERE w.tenant_id = old.tenant_id AND w.id = old.id RETURNING 1)
    SELECT count(*) FROM d
$$;
REVOKE ALL ON FUNCTION atrium_webhook_attempts_purge(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_webhook_attempts_purge(integer, integer) TO atrium_worker;
