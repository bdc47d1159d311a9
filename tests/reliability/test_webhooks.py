"""atrium-webhooks under failure (issue 4): 2,000 events to one endpoint while the worker is
SIGKILLed twice and Redis is restarted empty once. Every event arrives at least once with a valid
signature, duplicates carry the same webhook-id, none is lost, and every delivery ends succeeded."""
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


def owner_key():
    env = dict(os.environ)
    env.update(APP_ENV)
    p = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), "tenant", "create", "--name", "wh-rel"],
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
