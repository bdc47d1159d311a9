"""Durable jobs against the real stack (DESIGN §4): PostgreSQL is the truth, Redis may lose
everything, a worker may die at any moment, and no job is lost or run before its commit.

scripts/test.sh exports $STACK_DIR/stack.env; by hand, export STACK_DIR of a running test stack.
Jobs are driven with build/atriumctl (the operator's tool) and inspected as postgres."""
import json
import os
import signal
import subprocess
import sys
import time

import psycopg2
import pytest


sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file as _load_env_file, stack_env as _stack_env  # noqa: E402


ENV = _stack_env()
SDIR = ENV["STACK_DIR"]
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
APP_ENV = _load_env_file(os.path.join(SDIR, "atrium.env"))
LEASE_S = int(APP_ENV.get("ATRIUM_JOB_LEASE_MS", "30000")) / 1000.0
BASE_S = int(APP_ENV.get("ATRIUM_JOB_BACKOFF_BASE_MS", "1000")) / 1000.0
SWEEP_S = int(APP_ENV.get("ATRIUM_JOB_SWEEP_MS", "5000")) / 1000.0
RETENTION_DAYS = int(APP_ENV.get("ATRIUM_RETENTION_DAYS", "30"))
WORKER_PIDFILE = os.path.join(SDIR, "run", "atrium-jobs.pid")

if LEASE_S > 10 or SWEEP_S > 2:
    pytest.skip("needs the test profile's short job timings", allow_module_level=True)


# --- helpers ---------------------------------------------------------------------------------

def ctl(*args, check=True):
    """Runs build/atriumctl jobs ... with the stack's application environment; parsed JSON."""
    env = dict(os.environ)
    env.update(APP_ENV)
    p = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), "jobs", *args], env=env,
                       capture_output=True, text=True, timeout=30)
    if check:
        assert p.returncode == 0, f"atriumctl jobs {args}: rc {p.returncode}: {p.stderr}"
        return json.loads(p.stdout)
    return p


def db():
    c = psycopg2.connect(host=ENV["PGHOST"], port=ENV["PGPORT"], dbname="atrium", user="postgres")
    c.autocommit = True
    return c


def q(sql, *args):
    with db() as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def redis(*args):
    p = subprocess.run(["redis-cli", "-s", ENV["ATRIUM_REDIS"], *args], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def tenant():
    return str(q("SELECT id FROM tenants ORDER BY created_at LIMIT 1")[0][0])


def job(job_id):
    rows = q("SELECT state, attempts, last_error FROM jobs WHERE id = %s", job_id)
    return rows[0] if rows else None


def attempts(job_id):
    return q("SELECT n, trigger, outcome, started_at, finished_at, error FROM job_attempts"
             " WHERE job_id = %s ORDER BY n", job_id)


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def wait_state(job_id, state, timeout):
    return wait_for(lambda: (job(job_id) or [None])[0] == state and job(job_id), timeout,
                    f"job {job_id} to be {state} (now {job(job_id)})")


def enqueue(tenant, kind, payload=None, *extra):
    args = ["enqueue", "--tenant", tenant, "--kind", kind]
    if payload is not None:
        args += ["--payload", json.dumps(payload)]
    return ctl(*args, *extra)["id"]


def worker_pid():
    with open(WORKER_PIDFILE) as f:
        return int(f.read().split()[0])


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start_stack():
    """Starts whatever is down exactly as make test did (stack.sh is idempotent)."""
    p = subprocess.run([ENV["ATRIUM_STACK"], "start", "test"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def stop_worker(sig):
    pid = worker_pid()
    os.kill(pid, sig)
    wait_for(lambda: not alive(pid), 15, f"worker {pid} to exit on signal {sig}")


@pytest.fixture(autouse=True)
def stack_up():
    """Every test starts and ends with the worker and Redis running."""
    start_stack()
    yield
    start_stack()


# --- the outbox ------------------------------------------------------------------------------

def test_job_enqueued_in_rolled_back_transaction_never_runs(tenant):
    ghost = ctl("enqueue", "--tenant", tenant, "--kind", "echo", "--rollback")
    assert ghost["committed"] is False
    later = enqueue(tenant, "echo")
    wait_state(later, "succeeded", 10)
    time.sleep(SWEEP_S * 2)   # give a sweep the chance to do the wrong thing
    assert job(ghost["id"]) is None
    assert q("SELECT count(*) FROM job_attempts WHERE job_id = %s", ghost["id"])[0][0] == 0
    assert ghost["id"] not in redis("XRANGE", "atrium:q:ops", "-", "+"), "announced before commit"


def test_committed_job_runs_once_with_one_attempt(tenant):
    jid = enqueue(tenant, "echo", {"hello": "world"})
    wait_state(jid, "succeeded", 10)
    rows = attempts(jid)
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "scheduled", "succeeded")]
    shown = ctl("show", jid)
    assert shown["job"]["payload"] == {"hello": "world"}
    assert len(shown["attempts"]) == 1


def test_same_idempotency_key_gives_one_job(tenant):
    ev = ctl("emit", "--tenant", tenant, "--type", "ops.ping", "--payload", '{"n":1}')
    rows = wait_for(lambda: q("SELECT id, state FROM jobs WHERE idempotency_key = %s",
                               "event:" + ev["id"]), 10, "the event's job")
    assert len(rows) == 1
    wait_state(str(rows[0][0]), "succeeded", 10)


def test_event_in_rolled_back_transaction_leaves_nothing(tenant):
    ev = ctl("emit", "--tenant", tenant, "--type", "ops.ping", "--rollback")
    time.sleep(SWEEP_S * 2)
    assert q("SELECT count(*) FROM events WHERE id = %s", ev["id"])[0][0] == 0
    assert q("SELECT count(*) FROM jobs WHERE idempotency_key = %s", "event:" + ev["id"])[0][0] == 0


# --- Redis loses everything ------------------------------------------------------------------

def test_job_whose_stream_entry_was_flushed_still_runs(tenant):
    stop_worker(signal.SIGTERM)
    jid = enqueue(tenant, "echo")
    assert jid in redis("XRANGE", "atrium:q:ops", "-", "+"), "the commit should have announced it"
    redis("FLUSHALL")
    assert redis("EXISTS", "atrium:q:ops").strip() == "0"
    start_stack()
    wait_state(jid, "succeeded", LEASE_S + 10)   # the sweeper re-announces it after a lease


def test_worker_recreates_its_group_after_flush(tenant):
    redis("FLUSHALL")            # stream and consumer group gone under a running worker
    jid = enqueue(tenant, "echo")
    wait_state(jid, "succeeded", LEASE_S + 10)
    assert "ops" in redis("XINFO", "GROUPS", "atrium:q:ops")


def test_jobs_run_while_redis_is_down(tenant):
    pid = int(open(ENV["ATRIUM_REDIS_PIDFILE"]).read().split()[0])
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 15, "Redis to stop")
    try:
        jid = enqueue(tenant, "echo")   # the commit succeeds; the announcement cannot
        wait_state(jid, "succeeded", LEASE_S + 10)
    finally:
        start_stack()
    jid = enqueue(tenant, "echo")       # and the stream path works again afterwards
    wait_state(jid, "succeeded", LEASE_S + 10)


# --- a worker dies mid-job -------------------------------------------------------------------

def test_job_of_killed_worker_runs_again_after_its_lease(tenant):
    ms = int(LEASE_S * 1000 * 0.8)
    jid = enqueue(tenant, "sleep", {"ms": ms})
    wait_state(jid, "running", 10)
    stop_worker(signal.SIGKILL)
    start_stack()
    wait_state(jid, "succeeded", LEASE_S + ms / 1000.0 + 15)
    rows = attempts(jid)
    assert [(r[0], r[2]) for r in rows] == [(1, "lost"), (2, "succeeded")], rows
    gap = (rows[1][3] - rows[0][3]).total_seconds()
    assert gap >= LEASE_S - 0.2, f"re-run after {gap}s, before the {LEASE_S}s lease ended"


def test_job_that_dies_on_its_last_attempt_goes_dead_not_forever(tenant):
    """A job that kills its worker must not kill workers forever: no attempt is left, so the
    sweeper buries it once its lease expires."""
    jid = enqueue(tenant, "sleep", {"ms": 2000}, "--max-attempts", "1")
    wait_state(jid, "running", 10)
    stop_worker(signal.SIGKILL)
    start_stack()
    state, n, err = wait_state(jid, "dead", LEASE_S + 10)
    assert n == 1 and "lease expired" in err
    assert [(r[0], r[2]) for r in attempts(jid)] == [(1, "lost")]


def test_sigterm_finishes_the_current_job(tenant):
    jid = enqueue(tenant, "sleep", {"ms": 1000})
    wait_state(jid, "running", 10)
    stop_worker(signal.SIGTERM)
    assert job(jid)[0] == "succeeded"
    assert [(r[0], r[2]) for r in attempts(jid)] == [(1, "succeeded")]


# --- failures, backoff, dead letters ---------------------------------------------------------

def test_failing_job_backs_off_then_goes_dead(tenant):
    jid = enqueue(tenant, "fail", {"fail_times": 10}, "--max-attempts", "4")
    wait_state(jid, "dead", 30)
    rows = attempts(jid)
    assert [(r[0], r[2]) for r in rows] == [(1, "failed"), (2, "failed"), (3, "failed"), (4, "failed")]
    for n in range(1, 4):
        gap = (rows[n][3] - rows[n - 1][4]).total_seconds()
        floor = 0.8 * BASE_S * 2 ** (n - 1)   # exponential, jitter at most -20 %
        assert gap >= floor - 0.02, f"retry {n + 1} after {gap}s, expected >= {floor}s"
    state, n, err = job(jid)
    assert n == 4 and "attempt 4" in err
    assert any(j["id"] == jid for j in ctl("list", "--state", "dead", "--tenant", tenant, "--limit", "1000"))


def test_dead_job_retried_by_hand_runs(tenant):
    jid = enqueue(tenant, "fail", {"fail_times": 2}, "--max-attempts", "2")
    wait_state(jid, "dead", 20)
    out = ctl("retry", jid)
    assert out["state"] == "pending"
    wait_state(jid, "succeeded", 10)
    rows = attempts(jid)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (1, "scheduled", "failed"), (2, "scheduled", "failed"), (3, "manual", "succeeded")]
    again = ctl("retry", jid, check=False)   # only a dead job can be retried
    assert again.returncode == 1 and "dead" in again.stderr


def test_unknown_kind_goes_dead_with_a_clear_error(tenant):
    jid = enqueue(tenant, "no_such_kind")
    state, n, err = wait_state(jid, "dead", 10)
    assert n == 1 and "unknown job kind" in err


def test_bad_input_is_refused_by_atriumctl(tenant):
    assert ctl("enqueue", "--tenant", tenant, "--kind", "echo", "--payload", "[1]", check=False).returncode == 1
    assert ctl("enqueue", "--tenant", "nope", "--kind", "echo", check=False).returncode == 2
    assert ctl("list", "--state", "bogus", check=False).returncode == 2
    assert ctl("show", "not-a-uuid", check=False).returncode == 2


# --- the janitor -----------------------------------------------------------------------------

def test_janitor_deletes_old_finished_jobs(tenant):
    old, recent = enqueue(tenant, "echo"), enqueue(tenant, "echo")
    wait_state(old, "succeeded", 10)
    wait_state(recent, "succeeded", 10)
    q("UPDATE jobs SET finished_at = now() - make_interval(days => %s) WHERE id = %s",
      RETENTION_DAYS + 1, old)
    wait_for(lambda: job(old) is None, SWEEP_S * 10 + 10, "the janitor to delete the old job")
    assert attempts(old) == []
    assert job(recent)[0] == "succeeded"
