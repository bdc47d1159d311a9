"""atrium-integrations under failure (DESIGN §4, §5): a worker SIGKILLed while a provider call is in
flight loses nothing: after the lease the action runs again with the same idempotency key and the
run list ends with one success."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file, stack_env  # noqa: E402
from fakes.providers import Fakes  # noqa: E402

ENV = stack_env()
SDIR = ENV["STACK_DIR"]
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
APP_ENV = load_env_file(os.path.join(SDIR, "atrium.env"))
# The worker's lease outlasts its HTTP calls (config_lease_ms): the job lease, or twice the HTTP
# timeout plus 2 s when that is longer.
LEASE_S = max(int(APP_ENV.get("ATRIUM_JOB_LEASE_MS", "30000")),
              2 * int(APP_ENV.get("ATRIUM_HTTP_TIMEOUT_MS", "15000")) + 2000) / 1000.0
PIDFILE = os.path.join(SDIR, "run", "atrium-integrations.pid")

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
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fakes():
    f = Fakes(int(ENV["ATRIUM_FAKES_PORT"])).start()
    yield f
    f.stop()
    start_stack()


def api(key, method, path, body=None):
    return requests.request(method, ENV["ATRIUM_BASE_URL"] + path, timeout=30,
                            headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
                            data=json.dumps(body) if body is not None else None)


def test_killed_worker_mid_call_runs_the_action_again_after_its_lease(fakes):
    env = {**os.environ, **load_env_file(ENV["ATRIUM_ENV_FILE"])}
    out = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), "tenant", "create", "--name", "rel-int"],
                         env=env, capture_output=True, text=True, check=True).stdout
    key = json.loads(out)["api_key"]
    r = api(key, "POST", "/v1/integrations", {"type": "http", "name": "slow",
                                             "config": {"url": fakes.base + "/http/slow"}})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    fakes.delay_next("/http/slow", LEASE_S + 3)
    assert api(key, "POST", f"/v1/integrations/{iid}/test", {}).status_code == 202
    wait_for(lambda: fakes.seen("http"), 15, "the first call to reach the fake")
    with open(PIDFILE) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 15, "the worker to die")
    start_stack()
    runs = wait_for(lambda: [x for x in api(key, "GET", f"/v1/integrations/{iid}/runs").json()["items"]
                             if x["status"] == "succeeded"], LEASE_S + 20, "a succeeded run")
    calls = [r for r in fakes.seen("http") if r[2] == "/http/slow"]
    keys = {{k.lower(): v for k, v in c[3].items()}["idempotency-key"] for c in calls}
    assert len(calls) >= 2 and len(keys) == 1, calls
    assert len(runs) == 1 and runs[0]["attempt"] >= 2
