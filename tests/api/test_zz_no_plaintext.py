"""Runs after the other API tests (file name): none of the plaintext secrets the tests used (all
carry fakes.helpers.CANARY) is in a database dump, a log file, the Redis AOF, nginx's temp dirs,
or anywhere else under $STACK_DIR; no service-account private key is in the dump or the logs."""
import os
import subprocess
import sys

from conftest import ENV, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import CANARY, canary  # noqa: E402

DIR = ENV["STACK_DIR"]
MARKS = [CANARY.encode(), CANARY.encode().hex().encode()]


def ensure_a_secret_exists(tenant):
    """Never vacuous: run alone, this test writes one secret first."""
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM secrets")
        if cur.fetchone()[0] > 0:
            return
    r = tenant.owner.post("/v1/integrations", {"type": "intercom", "name": "zz", "config": {
        "access_token": canary("zz"), "event_name": "e"}})
    assert r.status_code == 201, r.text


def dump():
    p = subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_dump",
                        "-h", ENV["PGHOST"], "-p", str(ENV["PGPORT"]), "atrium"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def files_under(*parts):
    root = os.path.join(DIR, *parts)
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            if os.path.isfile(path) and not os.path.islink(path):
                yield path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def hits(data):
    return [m for m in MARKS if m in data]


def test_database_dump_has_no_plaintext(tenant):
    ensure_a_secret_exists(tenant)
    d = dump()
    assert b"CREATE TABLE public.secrets" in d and b"COPY public.secrets" in d
    assert hits(d) == []
    assert b"PRIVATE KEY" not in d


def test_logs_have_no_plaintext():
    logs = [p for p in files_under() if p.endswith(".log") or "/log/" in p or "/logs/" in p]
    assert any(p.endswith("fcgi.log") for p in logs) and any("integrations" in p for p in logs)
    for p in logs:
        data = read(p)
        assert hits(data) == [], p
        assert b"PRIVATE KEY" not in data, p


def test_redis_aof_has_no_plaintext():
    aof = list(files_under("redis", "appendonlydir"))
    assert aof, "no Redis AOF files"
    for p in aof:
        assert hits(read(p)) == [], p


def test_nginx_temp_dirs_have_no_plaintext():
    assert os.path.isdir(os.path.join(DIR, "nginx", "tmp"))
    for p in files_under("nginx", "tmp"):
        assert hits(read(p)) == [], p


def test_nothing_under_the_stack_dir_has_plaintext():
    """The database files themselves included: the plaintext never reached PostgreSQL."""
    n = 0
    for p in files_under():
        n += 1
        assert hits(read(p)) == [], p
    assert n > 50
