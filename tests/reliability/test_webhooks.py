"""atrium-webhooks under failure (issue 4): 2,000 events to one endpoint while the worker is
SIGKILLed twice and Redis is restarted empty once. Every event arrives at least once with a valid
signature, duplicates carry the same webhook-id, none is lost, and every delivery ends succeeded.
Also the worker's batches: deliveries of two tenants claimed together are each signed with their
own endpoint's secret and carry their own sealed header, and stream entries a dead consumer read
but never acked are taken back (XAUTOCLAIM), delivered once and acked. And fairness: a slow
endpoint's backlog holds no more than its cap of the worker's slots, so another tenant's
deliveries pass it, and none of it is claimed early enough to outlive its lease and go twice."""
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg2
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from stackenv import load_env_file, stack_env  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402

ENV = stack_env()
SDIR = ENV["STACK_DIR"]
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
APP_ENV = load_env_file(os.path.join(SDIR, "atrium.env"))
# The worker's lease outlasts its HTTP calls (config_lease_ms): the job lease, or once the HTTP
# timeout plus 2 s when that is longer.
LEASE_S = max(int(APP_ENV.get("ATRIUM_JOB_LEASE_MS", "30000")),
              1 * int(APP_ENV.get("ATRIUM_HTTP_TIMEOUT_MS", "15000")) + 2000) / 1000.0
PIDFILE = os.path.join(SDIR, "run", "atrium-webhooks.pid")
EVENTS = 2000

if LEASE_S > 10:
    pytest.skip("needs the test profile's short job timings", allow_module_level=True)


def start_stack():
    p = subprocess.run([ENV["ATRIUM_STACK"], "start", "test"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def kill(pidfile, sig):
    pid = int(open(pidfile).read().split()[0])
    os.kill(pid, sig)
    wait_for(lambda: not alive(pid), 15, f"{pidfile} to exit")


def q(sql, *args):
    with psycopg2.connect(host=ENV["PGHOST"], port=ENV["PGPORT"], dbname="atrium", user="postgres") as c, \
            c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def owner_key(name="wh-rel"):
    env = dict(os.environ)
    env.update(APP_ENV)
    p = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), "tenant", "create", "--name", name],
                       env=env, capture_output=True, text=True, timeout=30, check=True)
    import json
    return json.loads(p.stdout)["api_key"]


def test_2000_events_survive_two_sigkills_and_an_empty_redis():
    start_stack()
    rcv = Receiver()
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + owner_key()
    base = ENV["ATRIUM_BASE_URL"]
    r = s.post(base + "/v1/webhooks/endpoints", json={"url": rcv.url("/rel")})
    assert r.status_code == 201, r.text
    ep = r.json()
    rcv.route("/rel", [ep["secret"]])
    emitted, errors = [], []

    def produce():
        for _ in range(EVENTS):
            x = s.post(f"{base}/v1/webhooks/endpoints/{ep['id']}/test")
            if x.status_code == 202:
                emitted.append(x.json()["event_id"])
            else:
                errors.append(x.text)

    t = threading.Thread(target=produce)
    t.start()
    try:
        wait_for(lambda: len(rcv.for_path("/rel")) >= 300, 120, "300 deliveries")
        kill(PIDFILE, signal.SIGKILL)                     # first kill, mid-run
        start_stack()
        wait_for(lambda: len(rcv.for_path("/rel")) >= 900, 120, "900 deliveries")
        kill(PIDFILE, signal.SIGKILL)                     # second kill
        start_stack()
        wait_for(lambda: len(rcv.for_path("/rel")) >= 1300, 120, "1300 deliveries")
        subprocess.run(["redis-cli", "-s", ENV["ATRIUM_REDIS"], "FLUSHALL"], check=True,
                       capture_output=True, timeout=10)
        kill(ENV["ATRIUM_REDIS_PIDFILE"], signal.SIGTERM)  # restarted empty
        start_stack()
    finally:
        t.join()
        start_stack()
    assert errors == [] and len(emitted) == EVENTS
    want = set(emitted)
    wait_for(lambda: want <= {g["headers"]["webhook-id"] for g in rcv.for_path("/rel")}, 180,
             "every event to arrive")
    got = rcv.for_path("/rel")
    assert all(g["valid"] for g in got), "a delivery failed signature verification"
    ids = [g["headers"]["webhook-id"] for g in got]
    assert set(ids) == want                               # nothing foreign, nothing lost
    print(f"SUMMARY: {len(want)} events, {len(ids)} deliveries, {len(ids) - len(want)} duplicates")
    wait_for(lambda: q("SELECT count(*) FROM jobs j JOIN webhook_deliveries d ON d.tenant_id = j.tenant_id "
                       "AND d.id = j.id WHERE d.endpoint_id = %s AND j.state = 'succeeded'",
                       ep["id"])[0][0] == EVENTS, 60, "every delivery to be succeeded")
    rcv.close()


def redis(*args):
    p = subprocess.run(["redis-cli", "-s", ENV["ATRIUM_REDIS"], *args], capture_output=True, text=True,
                       timeout=10, check=True)
    return p.stdout


def session(name):
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + owner_key(f"{name}-{os.getpid()}-{time.time_ns()}")
    return s


# Characters that would break an array literal if the batch insert quoted them wrongly.
TRICKY = b'{"a": "b\\", "c": [1, 2]}, NULL, "\\"'


def test_a_batch_of_two_tenants_signs_each_delivery_with_its_own_endpoints_secret():
    start_stack()
    rcv = Receiver()
    base = ENV["ATRIUM_BASE_URL"]
    eps = []          # (session, endpoint, path, header value)
    for t in ("wh-batch-a", "wh-batch-b"):
        s = session(t)
        for k in range(2):
            path, token = f"/{t}/{k}", f"tok-{t}-{k}"
            r = s.post(base + "/v1/webhooks/endpoints",
                       json={"url": rcv.url(path), "headers": {"X-Api-Key": token}})
            assert r.status_code == 201, r.text
            ep = r.json()
            secrets = [ep["secret"]]
            if k == 1:            # rotated: signed with the new and the old key
                r = s.post(f"{base}/v1/webhooks/endpoints/{ep['id']}/rotate-secret")
                assert r.status_code == 200, r.text
                secrets = [r.json()["secret"]]
            rcv.route(path, secrets, default=200, body=TRICKY)
            eps.append((s, ep, path, token, secrets))
    kill(PIDFILE, signal.SIGTERM)          # everything queued before the worker reads any of it
    sent = {}
    for s, ep, path, _, _ in eps:
        for _ in range(10):
            r = s.post(f"{base}/v1/webhooks/endpoints/{ep['id']}/test")
            assert r.status_code == 202, r.text
            sent[r.json()["event_id"]] = path
    start_stack()
    try:
        for s, ep, path, token, secrets in eps:
            got = rcv.wait(path, 10, timeout=60)
            assert {g["headers"]["webhook-id"] for g in got} == {e for e, p in sent.items() if p == path}
            assert len(got) == 10, f"{path}: duplicates"
            assert all(g["headers"]["x-api-key"] == token for g in got)
            assert all(g["valid"] for g in got), f"{path}: a signature is not this endpoint's"
            if len(secrets) == 1 and path.endswith("/1"):
                assert all(len(g["headers"]["webhook-signature"].split(" ")) == 2 for g in got)
        mine = "SELECT id FROM webhook_deliveries WHERE event_id = ANY(%s::uuid[])"
        wait_for(lambda: q(f"SELECT count(*) FROM webhook_attempts WHERE delivery_id IN ({mine}) "
                           "AND status_code = 200", list(sent))[0][0] == len(sent), 30, "every attempt row")
        excerpts = q(f"SELECT DISTINCT response_excerpt FROM webhook_attempts WHERE delivery_id IN ({mine})",
                     list(sent))
        assert excerpts == [(TRICKY.decode(),)], excerpts
        # Claimed in batches, and at least one claim statement held both tenants' deliveries.
        starts = q("SELECT a.started_at, count(DISTINCT a.tenant_id) FROM job_attempts a "
                   f"WHERE a.job_id IN ({mine}) GROUP BY a.started_at", list(sent))
        assert len(starts) < len(sent), "deliveries were claimed one by one"
        assert max(n for _, n in starts) == 2, "no batch held both tenants"
    finally:
        rcv.close()


def test_entries_a_dead_consumer_never_acked_are_reclaimed_and_delivered_once():
    start_stack()
    rcv = Receiver()
    base = ENV["ATRIUM_BASE_URL"]
    s = session("wh-orphans")
    r = s.post(base + "/v1/webhooks/endpoints", json={"url": rcv.url("/orphans")})
    assert r.status_code == 201, r.text
    ep = r.json()
    rcv.route("/orphans", [ep["secret"]])
    kill(PIDFILE, signal.SIGTERM)
    events = [s.post(f"{base}/v1/webhooks/endpoints/{ep['id']}/test").json()["event_id"] for _ in range(5)]
    # A consumer reads the five announcements and dies before acking them (a SIGKILLed worker).
    out = redis("XREADGROUP", "GROUP", "webhooks", "ghost", "COUNT", "100", "STREAMS", "atrium:q:webhooks", ">")
    assert out.split().count("job") == 5, out
    assert redis("XPENDING", "atrium:q:webhooks", "webhooks", "-", "+", "100", "ghost").strip() != ""
    start_stack()
    try:
        got = rcv.wait("/orphans", 5, timeout=60)
        wait_for(lambda: redis("XPENDING", "atrium:q:webhooks", "webhooks", "-", "+", "100",
                               "ghost").strip() == "", 60, "the dead consumer's entries to be reclaimed")
        wait_for(lambda: redis("XPENDING", "atrium:q:webhooks", "webhooks").split()[0] == "0", 60,
                 "every entry to be acked")
        wait_for(lambda: q("SELECT count(*) FROM jobs j JOIN webhook_deliveries d ON d.tenant_id = j.tenant_id "
                           "AND d.id = j.id WHERE d.endpoint_id = %s AND j.state = 'succeeded'",
                           ep["id"])[0][0] == 5, 60, "the deliveries to succeed")
        got = rcv.for_path("/orphans")
        assert sorted(g["headers"]["webhook-id"] for g in got) == sorted(events), "lost or duplicated"
        assert all(g["valid"] for g in got)
    finally:
        rcv.close()


def emit(s, ep, n):
    base = ENV["ATRIUM_BASE_URL"]
    ids = []
    for _ in range(n):
        r = s.post(f"{base}/v1/webhooks/endpoints/{ep['id']}/test")
        assert r.status_code == 202, r.text
        ids.append(r.json()["event_id"])
    return ids


def succeeded(ep):
    return q("SELECT count(*) FROM jobs j JOIN webhook_deliveries d ON d.tenant_id = j.tenant_id "
             "AND d.id = j.id WHERE d.endpoint_id = %s AND j.state = 'succeeded'", ep["id"])[0][0]


SLOW_S = 2.0     # the slow receiver's answer time
SLOW_N = 100     # tenant A's backlog on the slow endpoint
FAST_N = 20      # tenant B's deliveries, queued once A's backlog is in the worker's hands


def test_a_slow_endpoint_holds_only_its_cap_and_another_tenant_passes_its_backlog():
    """Fairness (issue 4): the per-endpoint cap is applied when claiming, so a slow endpoint's
    backlog neither fills the worker's slots (starving tenant B) nor sits claimed past its lease
    (sent twice)."""
    start_stack()
    cap = int(APP_ENV.get("ATRIUM_WEBHOOK_PER_ENDPOINT", "4"))
    assert SLOW_N > 4 * cap and SLOW_N > int(APP_ENV.get("ATRIUM_WEBHOOK_CONCURRENCY", "64")), \
        "the backlog must outnumber the worker's slots for this test to mean anything"
    rcv = Receiver()
    base = ENV["ATRIUM_BASE_URL"]
    sa, sb = session("wh-slow-a"), session("wh-fast-b")
    ea = sa.post(base + "/v1/webhooks/endpoints", json={"url": rcv.url("/slow")}).json()
    eb = sb.post(base + "/v1/webhooks/endpoints", json={"url": rcv.url("/fast")}).json()
    rcv.route("/slow", [ea["secret"]], delay=SLOW_S)
    rcv.route("/fast", [eb["secret"]])
    kill(PIDFILE, signal.SIGTERM)          # A's whole backlog queued before the worker reads any of it
    a_ids = emit(sa, ea, SLOW_N)
    start_stack()
    try:
        rcv.wait("/slow", 1, timeout=60)   # the worker has A's backlog in hand
        b_ids = emit(sb, eb, FAST_N)
        got_b = rcv.wait("/fast", FAST_N, timeout=120)
        with rcv.lock:
            order = [g["path"] for g in rcv.got]
        last_b = max(i for i, p in enumerate(order) if p == "/fast")
        a_before = order[:last_b].count("/slow")
        print(f"SUMMARY: {a_before} of A's {SLOW_N} arrived before B's last; "
              f"A at most {rcv.max_inflight['/slow']} in flight (cap {cap})")
        assert sorted(g["headers"]["webhook-id"] for g in got_b[:FAST_N]) == sorted(b_ids)
        assert a_before < SLOW_N // 4, \
            f"B waited behind A's backlog: {a_before} of A's {SLOW_N} deliveries arrived before B's last"
        got_a = rcv.wait("/slow", SLOW_N, timeout=SLOW_N * SLOW_S / cap * 3 + 60)
        wait_for(lambda: succeeded(ea) == SLOW_N, 60, "A's deliveries to be succeeded")
        time.sleep(SLOW_S)                 # a duplicate would be in flight now
        got_a = rcv.for_path("/slow")
        a_sent = [g["headers"]["webhook-id"] for g in got_a]
        assert sorted(set(a_sent)) == sorted(a_ids), "a delivery of A was lost"
        assert len(a_sent) == SLOW_N, f"{len(a_sent) - SLOW_N} deliveries of A were sent twice"
        assert all(g["valid"] for g in got_a + rcv.for_path("/fast"))
        assert 1 <= rcv.max_inflight["/slow"] <= cap, \
            f"{rcv.max_inflight['/slow']} requests to one endpoint in flight, cap {cap}"
        assert rcv.max_inflight["/fast"] <= cap
        assert succeeded(eb) == FAST_N
    finally:
        rcv.close()
