"""atrium-fcgi as a process (DESIGN §3): children re-forked when they die, SIGTERM drains
in-flight requests, a bad setting stops start-up with a clear message, migrations are idempotent."""
import json
import os
import signal
import subprocess
import threading
import time

from conftest import ENV, ROOT, _load_env_file, atriumctl, pg


def master_pid():
    with open(ENV["ATRIUM_FCGI_PIDFILE"]) as f:
        return int(f.read().split()[0])


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


def wait_for(pred, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def stack_start():
    subprocess.run([ENV["ATRIUM_STACK"], "start", ENV["ATRIUM_PROFILE"]], check=True,
                   capture_output=True, timeout=120)


def test_a_killed_child_is_re_forked_and_requests_keep_succeeding(tenant):
    m = master_pid()
    before = children(m)
    assert len(before) >= 2
    os.kill(before[0], signal.SIGKILL)
    assert wait_for(lambda: len(children(m)) == len(before) and before[0] not in children(m))
    assert [tenant.owner.get("/v1/flows").status_code for _ in range(10)] == [200] * 10


def test_sigterm_drains_the_request_in_flight(tenant):
    """The master stops taking requests but the one being served completes with 200."""
    holder = pg("postgres")
    cur = holder.cursor()
    cur.execute("LOCK TABLE flows IN ACCESS EXCLUSIVE MODE")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=tenant.owner.post("/v1/flows", {"name": "drained"})))
    t.start()
    try:
        with pg("postgres") as c, c.cursor() as cur2:
            c.autocommit = True
            assert wait_for(lambda: cur2.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'atrium-fcgi' "
                "AND wait_event_type = 'Lock'") or cur2.fetchone()[0] > 0)
        m = master_pid()
        os.kill(m, signal.SIGTERM)
        time.sleep(0.3)
    finally:
        holder.rollback()
        holder.close()
    t.join(30)
    assert result["r"].status_code == 201, result["r"].text
    assert wait_for(lambda: not os.path.exists(f"/proc/{m}") or
                    open(f"/proc/{m}/stat").read().split()[2] == "Z", 15)
    stack_start()
    assert tenant.owner.get("/v1/flows").status_code == 200


def test_a_bad_setting_stops_start_up_with_a_clear_message():
    env = dict(os.environ)
    env.update(_load_env_file(ENV["ATRIUM_ENV_FILE"]))
    env["ATRIUM_CHILDREN"] = "lots"
    env["ATRIUM_FCGI_SOCKET"] = "/nonexistent/never-bound.sock"
    p = subprocess.run([os.path.join(ROOT, "build", "atrium-fcgi")], env=env, capture_output=True,
                       text=True, timeout=10)
    assert p.returncode != 0
    assert "ATRIUM_CHILDREN" in p.stderr and "lots" in p.stderr


def test_migrations_are_recorded_and_idempotent():
    out = json.loads(atriumctl("migrate").stdout)
    assert out == {"applied": [], "ok": True}
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY 1")
        versions = [r[0] for r in cur.fetchall()]
    files = sorted(f for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql"))
    assert versions == files
