"""The free-space floor end to end: atrium-fcgi restarted with ATRIUM_UPLOAD_MIN_FREE_MB far above
what the disk has (through $STACK_DIR/atrium.env.override, which scripts/stack.sh reads after
atrium.env) answers 507 problem+json to tus creation and to PATCH, on the public and the creators'
paths, and to a single-request upload (POST /v1/media); restarted without it, the same upload goes on. (The statvfs judgement itself is unit-tested
in tests/unit/test_upload_limits.c.) Runs after test_stack.py, whose restarts it shares."""
import base64
import os
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file as load_env  # noqa: E402

if not os.environ.get("STACK_DIR"):
    pytest.exit("no stack: run through `make test`, or export STACK_DIR of a running stack", 2)
DIR = os.environ["STACK_DIR"]
ENV = load_env(os.path.join(DIR, "stack.env"))
BASE = ENV["ATRIUM_BASE_URL"]
PROFILE = ENV["ATRIUM_PROFILE"]
OVERRIDE = os.path.join(DIR, "atrium.env.override")
TUS = {"Tus-Resumable": "1.0.0"}


def stack(cmd, *services):
    p = subprocess.run([ENV["ATRIUM_STACK"], cmd, PROFILE, *services], capture_output=True,
                       text=True, env={**os.environ, "STACK_DIR": DIR}, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def restart_fcgi():
    stack("stop", "fcgi")
    assert "started atrium-fcgi" in stack("start")


def meta(**kw):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


def owner():
    with open(ENV["ATRIUM_OWNER_KEY_FILE"]) as f:
        return {"Authorization": "Bearer " + f.read().strip()}


def public_session():
    flow = {"name": "disk floor", "steps": [{"key": "s", "fields": [
        {"key": "doc", "label": "Document", "type": "file"}]}]}
    r = requests.post(BASE + "/v1/flows", json=flow, headers=owner(), timeout=30)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert requests.post(f"{BASE}/v1/flows/{fid}/publish", headers=owner(), timeout=30).status_code == 200
    r = requests.post(f"{BASE}/v1/public/flows/{fid}/sessions", timeout=30)
    assert r.status_code == 201, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def create(auth, path):
    h = dict(TUS, **auth, **{"Upload-Length": "20", "Upload-Metadata": meta(filename="a.pdf", field="doc")})
    return requests.post(BASE + path, headers=h, timeout=30)


def patch(auth, loc):
    h = dict(TUS, **auth, **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    return requests.patch(BASE + loc, headers=h, data=b"%PDF-1.4\n" + b"0" * 11, timeout=30)


def assert_507(r):
    assert r.status_code == 507, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "low on upload space" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0


def test_below_the_floor_creation_and_patch_are_507():
    pub = public_session()
    before = create(pub, "/v1/public/uploads")
    assert before.status_code == 201, before.text
    try:
        with open(OVERRIDE, "w") as f:
            f.write("ATRIUM_UPLOAD_MIN_FREE_MB=1073741824\n")
        restart_fcgi()
        assert_507(create(pub, "/v1/public/uploads"))
        assert_507(create(owner(), "/v1/uploads"))
        assert_507(patch(pub, before.headers["Location"]))
        # single-request uploads are judged like a tus creation (uploads_single_store)
        assert_507(requests.post(BASE + "/v1/media", data=b"%PDF-1.4\n" + b"0" * 11, timeout=30,
                                 headers=dict(owner(), **{"Atrium-Filename": "a.pdf"})))
    finally:
        os.unlink(OVERRIDE)
        restart_fcgi()
    # with room again, the same upload continues from where it was
    r = patch(pub, before.headers["Location"])
    assert r.status_code == 204 and r.headers["Upload-Offset"] == "20", r.text
