"""Shared fixtures for the API suite: every test talks to the real stack through nginx.

scripts/test.sh exports $STACK_DIR/stack.env; when run by hand, point STACK_DIR at a running stack
(for the dev stack: STACK_DIR=$(readlink .run))."""
import json
import os
import signal
import subprocess
import sys
import uuid

import psycopg2
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file as _load_env_file, stack_env  # noqa: E402


ENV = stack_env()
BASE = ENV["ATRIUM_BASE_URL"]
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
ROLES = ["owner", "admin", "creator", "developer", "viewer"]


class Client:
    """A thin requests wrapper that carries one API key (or none)."""

    def __init__(self, key=None, source=None):
        self.s = requests.Session()
        self.key = key
        if source:
            from requests.adapters import HTTPAdapter

            class SourceAdapter(HTTPAdapter):
                def init_poolmanager(self, *a, **kw):
                    kw["source_address"] = (source, 0)
                    super().init_poolmanager(*a, **kw)

            self.s.mount("http://", SourceAdapter())

    def req(self, method, path, body=None, raw=None, headers=None, **kw):
        h = dict(headers or {})
        if self.key and "Authorization" not in h:
            h["Authorization"] = "Bearer " + self.key
        if body is not None:
            raw = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        return self.s.request(method, BASE + path, data=raw, headers=h, timeout=30, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.req("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


def atriumctl(*args, check=True):
    env = dict(os.environ)
    env.update(_load_env_file(ENV["ATRIUM_ENV_FILE"]))
    p = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), *args], env=env,
                       capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"atriumctl {' '.join(args)} failed: {p.stderr}")
    return p


def new_tenant(name=None):
    out = atriumctl("tenant", "create", "--name", name or "t-" + uuid.uuid4().hex[:8])
    return json.loads(out.stdout)


class Tenant:
    def __init__(self):
        t = new_tenant()
        self.id = t["tenant_id"]
        self.owner = Client(t["api_key"])
        self.clients = {"owner": self.owner}

    def as_role(self, role):
        if role not in self.clients:
            r = self.owner.post("/v1/api-keys", {"name": role + " key", "role": role})
            assert r.status_code == 201, r.text
            self.clients[role] = Client(r.json()["api_key"])
        return self.clients[role]


@pytest.fixture(scope="module")
def tenant():
    return Tenant()


@pytest.fixture(scope="module")
def other():
    return Tenant()


@pytest.fixture
def anon():
    return Client()


def pg(user="atrium_app"):
    return psycopg2.connect(host=ENV["PGHOST"], port=ENV["PGPORT"], dbname="atrium", user=user)


def assert_problem(r, status, field=None):
    """The response is an RFC 9457 problem with this status (and names field, when given)."""
    assert r.status_code == status, \
        f"{r.status_code} != {status}: {r.headers.get('Content-Type')} {r.content[:300]!r}"
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    p = r.json()
    assert p["status"] == status and p["type"].startswith("https://") and p["title"], p
    if field is not None:
        fields = [e["field"] for e in p.get("errors", [])]
        assert field in fields or field in p.get("detail", ""), p
    return p


SIMPLE_FLOW = {
    "name": "Onboarding",
    "uploads": {"max_files": 3, "max_total_bytes": 10485760},
    "steps": [
        {"key": "about", "title": "About you", "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": True, "max_length": 100},
            {"key": "email", "label": "Email", "type": "email", "required": True, "sensitive": True},
            {"key": "plan", "label": "Plan", "type": "choice", "choices": ["free", "pro"]},
        ]},
        {"key": "files", "title": "Files", "fields": [
            {"key": "photo", "label": "Photo", "type": "file", "accept": ["image/jpeg", "image/heic"],
             "max_size": 5000000},
            {"key": "age", "label": "Age", "type": "number", "min": 0, "max": 150},
        ]},
    ],
}


@pytest.fixture
def media_paused():
    """atrium-media stopped (SIGSTOP) for the test, continued after it: assets stay 'uploaded' and
    the upload's parts stay in the incoming area while the test looks at them. The jobs wait in
    the queue and run once the worker continues."""
    pidfile = os.path.join(ENV["ATRIUM_WORKER_PIDDIR"], "atrium-media.pid")
    if not os.path.exists(pidfile):
        pytest.fail("atrium-media is not running in this stack (no run/atrium-media.pid)")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)
