"""The stack itself, through the real processes: nginx's own answers (problem+json errors, rate
limits, headers, TLS), and the production-like set-up the issue asks for (service users, keys that
only root reads, PostgreSQL and Redis settings). scripts/test.sh runs it as suite `stack`; by hand:
STACK_DIR=$(readlink .run) /usr/bin/python3 -m pytest -q tests/stack"""
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import uuid

import psycopg2
import pytest
import requests
from requests.adapters import HTTPAdapter


sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file as load_env  # noqa: E402


if not os.environ.get("STACK_DIR"):
    pytest.exit("no stack: run through `make test`, or export STACK_DIR of a running stack", 2)
DIR = os.environ["STACK_DIR"]
ENV = load_env(os.path.join(DIR, "stack.env"))
APP_ENV = load_env(ENV["ATRIUM_ENV_FILE"])
BASE = ENV["ATRIUM_BASE_URL"]
PROFILE = ENV["ATRIUM_PROFILE"]


def session(source=None):
    s = requests.Session()
    if source:
        class Source(HTTPAdapter):
            def init_poolmanager(self, *a, **kw):
                kw["source_address"] = (source, 0)
                super().init_poolmanager(*a, **kw)
        s.mount("http://", Source())
    return s


def assert_nginx_problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["type"].startswith("https://atrium.dev/problems/")
    assert body["request_id"] == r.headers["X-Request-Id"]
    return body


def pid(path):
    with open(path) as f:
        return int(f.read().split()[0])


def uids(p):
    with open(f"/proc/{p}/status") as f:
        line = next(l for l in f if l.startswith("Uid:"))
    return set(int(x) for x in line.split()[1:])


def children(p):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def runas(user, *cmd):
    return subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, text=True)


# --- nginx ------------------------------------------------------------------------------------

def test_every_response_has_request_id_and_security_headers():
    for path in ["/nginx-static", "/", "/no-such-page", "/v1/no-such-route"]:
        r = requests.get(BASE + path, timeout=10)
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers.get("X-Request-Id", "")), (path, r.headers)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Referrer-Policy"] == "no-referrer", path
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path


def test_request_ids_differ():
    ids = {requests.get(BASE + "/nginx-static", timeout=10).headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_static_baseline_and_web_root():
    r = requests.get(BASE + "/nginx-static", timeout=10)
    assert r.status_code == 200 and r.json() == {"ok": True}
    r = requests.get(BASE + "/", timeout=10)
    assert r.status_code == 200 and "<title>Atrium</title>" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert csp.count("default-src") == 1, "two CSP headers: add_header inheritance broke"


def test_missing_static_file_is_problem_json():
    assert_nginx_problem(requests.get(BASE + "/missing.html", timeout=10), 404)


def test_oversize_api_body_is_413_problem_json_before_the_app():
    r = requests.post(BASE + "/v1/flows", data=b"x" * (1024 * 1024 + 1),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert_nginx_problem(r, 413)


def test_https_with_generated_certificate():
    r = requests.get(ENV["ATRIUM_HTTPS_URL"] + "/nginx-static", verify=ENV["ATRIUM_CA"], timeout=10)
    assert r.status_code == 200 and r.headers["X-Request-Id"]
    r = requests.get(ENV["ATRIUM_HTTPS_URL"].replace("127.0.0.1", "localhost") + "/nginx-static",
                     verify=ENV["ATRIUM_CA"], timeout=10)
    assert r.status_code == 200


def hammer(source, path, n, method="GET"):
    s = session(source)
    return [s.request(method, BASE + path, timeout=10) for _ in range(n)]


def test_public_rate_limit_is_per_client_and_answers_problem_json():
    path = f"/v1/public/flows/{uuid.uuid4()}"
    rs = hammer("127.0.0.3", path, 80)
    limited = [r for r in rs if r.status_code == 429]
    assert limited, [r.status_code for r in rs]
    # burst 40 at 20 r/s: the first 41 pass whatever else happens
    assert all(r.status_code != 429 for r in rs[:41]), [r.status_code for r in rs]
    body = assert_nginx_problem(limited[0], 429)
    assert body["type"].endswith("/rate-limited")
    assert int(limited[0].headers["Retry-After"]) >= 1
    # another client address is not affected
    assert all(r.status_code != 429 for r in hammer("127.0.0.4", path, 5))


def test_session_start_has_a_tighter_limit():
    path = f"/v1/public/flows/{uuid.uuid4()}/sessions"
    rs = hammer("127.0.0.5", path, 20, method="POST")
    codes = [r.status_code for r in rs]
    assert 429 in codes[:16], codes  # burst 10 at 2 r/s, far below the public zone's 40
    assert all(c != 429 for c in codes[:11]), codes


def test_private_api_is_not_rate_limited_by_nginx():
    codes = [r.status_code for r in hammer("127.0.0.6", "/v1/no-such-route", 60)]
    assert 429 not in codes, codes


# --- processes and privileges -----------------------------------------------------------------

def test_fcgi_master_and_children_run_as_atrium_web_and_are_not_dumpable():
    web = pwd.getpwnam("atrium-web").pw_uid
    master = pid(ENV["ATRIUM_FCGI_PIDFILE"])
    kids = children(master)
    assert kids, "atrium-fcgi has no children"
    for p in [master] + kids:
        assert uids(p) == {web}, p
        # a non-dumpable process's /proc entries belong to root
        assert os.stat(f"/proc/{p}/environ").st_uid == 0, p
    sock = os.stat(ENV["ATRIUM_FCGI_SOCKET"])
    assert stat.S_ISSOCK(sock.st_mode) and sock.st_uid == web


def test_workers_run_as_atrium_worker():
    worker = pwd.getpwnam("atrium-worker").pw_uid
    piddir = ENV["ATRIUM_WORKER_PIDDIR"]
    pidfiles = [f for f in os.listdir(piddir) if f.startswith("atrium-") and f.endswith(".pid")]
    if not pidfiles:
        pytest.skip("no worker binaries built yet")
    for f in pidfiles:
        assert uids(pid(os.path.join(piddir, f))) == {worker}, f


def test_nginx_workers_run_as_atrium_web():
    web = pwd.getpwnam("atrium-web").pw_uid
    kids = children(pid(ENV["ATRIUM_NGINX_PIDFILE"]))
    assert kids and all(uids(k) == {web} for k in kids)


def test_master_keys_are_root_only():
    keys = ENV["ATRIUM_KEYS_DIR"]
    st = os.stat(keys)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700
    key = os.path.join(keys, "1.key")
    st = os.stat(key)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o400
    with open(key) as f:
        assert re.fullmatch(r"[0-9a-f]{64}", f.read())
    for user in ["atrium-web", "atrium-worker"]:
        assert runas(user, "cat", key).returncode != 0, user
        assert runas(user, "ls", keys).returncode != 0, user


def test_owner_key_file_is_private_and_works():
    path = ENV["ATRIUM_OWNER_KEY_FILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        key = f.read().strip()
    assert key.startswith("atr_")
    r = requests.get(BASE + "/v1/me", headers={"Authorization": "Bearer " + key}, timeout=10)
    assert r.status_code == 200, r.text


# --- PostgreSQL and Redis ---------------------------------------------------------------------

def pg(user):
    return psycopg2.connect(host=ENV["PGHOST"], port=ENV["PGPORT"], dbname="atrium", user=user)


def test_postgres_settings_and_roles():
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT current_setting('synchronous_commit'), current_setting('fsync'),"
                    " current_setting('listen_addresses')")
        sync, fsync, listen = cur.fetchone()
        assert sync == "on" and listen == ""
        assert fsync == ("off" if PROFILE == "test" else "on")
        cur.execute("SELECT rolname, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole FROM pg_roles"
                    " WHERE rolname IN ('atrium_app', 'atrium_worker')")
        rows = cur.fetchall()
        assert len(rows) == 2 and all(r[1:] == (False, False, False, False) for r in rows), rows
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'atrium'")
        assert cur.fetchone()[0] == "atrium_owner"
        cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'hll'")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
                    " WHERE r.rolname IN ('atrium_app', 'atrium_worker')")
        assert cur.fetchone()[0] == 0, "the application roles must own nothing"


def test_app_roles_connect_over_the_socket():
    for user in ["atrium_app", "atrium_worker"]:
        with pg(user) as c, c.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == user


def redis_cli(*args, user=None):
    cmd = ["redis-cli", "-s", ENV["ATRIUM_REDIS"], *args]
    return runas(user, *cmd) if user else subprocess.run(cmd, capture_output=True, text=True)


def test_redis_is_socket_only_with_aof():
    assert redis_cli("CONFIG", "GET", "appendonly").stdout.split() == ["appendonly", "yes"]
    assert redis_cli("CONFIG", "GET", "appendfsync").stdout.split() == ["appendfsync", "everysec"]
    assert redis_cli("CONFIG", "GET", "port").stdout.split() == ["port", "0"]


def test_both_service_users_reach_redis_and_others_do_not():
    for user in ["atrium-web", "atrium-worker"]:
        r = redis_cli("PING", user=user)
        assert r.stdout.strip() == "PONG", (user, r.stderr)
    r = redis_cli("PING", user="nobody")
    assert r.stdout.strip() != "PONG"


def test_env_files_carry_the_contract():
    for k in ["ATRIUM_ENV", "ATRIUM_DB_APP", "ATRIUM_DB_WORKER", "ATRIUM_DB_OWNER", "ATRIUM_REDIS",
              "ATRIUM_FCGI_SOCKET", "ATRIUM_KEYS_DIR", "ATRIUM_SQL_DIR", "ATRIUM_PUBLIC_URL",
              "ATRIUM_LOG_LEVEL"]:
        assert APP_ENV.get(k), k
    assert "user=atrium_app" in APP_ENV["ATRIUM_DB_APP"]
    assert "user=atrium_worker" in APP_ENV["ATRIUM_DB_WORKER"]
    if PROFILE == "test":
        assert APP_ENV["ATRIUM_JOB_LEASE_MS"] == "3000"


# --- restarts (last: they stop parts of the stack) --------------------------------------------

def stack(cmd, *services):
    p = subprocess.run([ENV["ATRIUM_STACK"], cmd, PROFILE, *services], capture_output=True,
                       text=True, env={**os.environ, "STACK_DIR": DIR}, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_second_start_changes_nothing():
    before = {f: open(os.path.join(DIR, "run", f)).read() for f in os.listdir(os.path.join(DIR, "run"))
              if f.endswith(".pid")}
    out = stack("start")
    assert "started" not in out and "reloaded" not in out, out
    after = {f: open(os.path.join(DIR, "run", f)).read() for f in before}
    assert before == after


def test_fcgi_down_is_502_problem_json_and_start_restarts_only_it():
    nginx_pid = pid(ENV["ATRIUM_NGINX_PIDFILE"])
    stack("stop", "fcgi")
    r = requests.get(BASE + "/v1/health", timeout=10)
    assert_nginx_problem(r, 502)
    assert r.headers["Retry-After"] == "1"
    out = stack("start")
    assert "started atrium-fcgi" in out and "started nginx" not in out and "PostgreSQL" not in out, out
    assert pid(ENV["ATRIUM_NGINX_PIDFILE"]) == nginx_pid
    assert requests.get(BASE + "/v1/health", timeout=10).status_code == 200
