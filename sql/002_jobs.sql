-- 002_jobs: durable jobs (the outbox of DESIGN §4), their attempts, and the events that produce them (§7).
-- Runs as atrium_owner. atrium_app sees only its tenant's rows; atrium_worker claims jobs across
-- tenants (its own policy on the job tables only) and sets the job's tenant before touching tenant data.

CREATE TABLE jobs (
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              uuid NOT NULL,                          -- UUIDv7, generated in C
    queue           text NOT NULL CHECK (queue ~ '^[a-z][a-z0-9_]{0,31}$'),
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    payload         jsonb NOT NULL DEFAULT '{}',
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'succeeded', 'dead')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL CHECK (max_attempts >= 1),  -- grows by the budget on a manual retry
    trigger         text NOT NULL DEFAULT 'scheduled' CHECK (trigger IN ('scheduled', 'manual')),
    run_at          timestamptz NOT NULL DEFAULT now(),
    announced_at    timestamptz,                            -- last XADD (or its attempt); the sweeper's guard
    lease_until     timestamptz,
    locked_by       text,
    last_error      text CHECK (length(last_error) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, queue, idempotency_key),
    CHECK ((state = 'running') = (lease_until IS NOT NULL)),
    CHECK ((state IN ('succeeded', 'dead')) = (finished_at IS NOT NULL))
);

-- The sweeper's two questions, each answered from a small partial index.
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE state = 'pending';
CREATE INDEX jobs_lease ON jobs (queue, lease_until) WHERE state = 'running';
-- The janitor's and the operator's.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_dead ON jobs (tenant_id, queue, updated_at) WHERE state = 'dead';

CREATE TABLE job_attempts (
    tenant_id   uuid NOT NULL,
    job_id      uuid NOT NULL,
    n           integer NOT NULL CHECK (n >= 1),
    trigger     text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text CHECK (outcome IN ('succeeded', 'failed', 'lost')),
    error       text CHECK (length(error) <= 2000),
    PRIMARY KEY (tenant_id, job_id, n),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);

-- One row per events_emit(): the one producer of events and of the jobs they fan out to.
CREATE TABLE events (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    type       text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(type) <= 100),
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_type ON events (tenant_id, type, created_at);

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON jobs
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON job_attempts
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = atrium_tenant()) WITH CHECK (tenant_id = atrium_tenant());
-- Workers claim, sweep and clean up across tenants; on every other table they see one tenant only.
CREATE POLICY worker_all ON jobs TO atrium_worker USING (true) WITH CHECK (true);
CREATE POLICY worker_all ON job_attempts TO atrium_worker USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON jobs TO atrium_app;
GRANT SELECT ON job_attempts TO atrium_app;
GRANT SELECT, INSERT ON events TO atrium_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs, job_attempts TO atrium_worker;
GRANT SELECT, INSERT ON events TO atrium_worker;
