"""The s3 stack's end-to-end check, shared by tests/api/test_storage_s3.py (when the running stack
is on s3) and tests/reliability/test_storage_s3.py (which restarts the stack on s3): an upload
through nginx, its bytes stored under the asset's key in s3rver (behind s3_verify.js, which checks
every SigV4 signature), a presigned GET that works, and a tampered or expired one that is refused.

atrium-media (workers/media.c), which moves a completed upload into storage, is not on main yet:
the storage step is run through the same StorageAdapter with `atriumctl storage put`."""
import json
import os
import subprocess
import time
import urllib.parse

import psycopg2
import requests

from stackenv import load_env_file

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")


def stack_files(stack_dir):
    """stack.env and atrium.env as they are now (a restart may have changed the backend)."""
    return (load_env_file(os.path.join(stack_dir, "stack.env")),
            load_env_file(os.path.join(stack_dir, "atrium.env")))


def ctl(stack_dir, *args, env_extra=None):
    senv, aenv = stack_files(stack_dir)
    env = dict(os.environ)
    env.update(aenv)
    env.update(env_extra or {})
    return subprocess.run([os.path.join(senv["ATRIUM_ROOT"], "build", "atriumctl"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def new_tenant(stack_dir):
    p = ctl(stack_dir, "tenant", "create", "--name", "s3-check")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def job_path(senv, tenant_id, asset_id):
    with psycopg2.connect(host=senv["PGHOST"], port=senv["PGPORT"], dbname="atrium", user="atrium_app") as c:
        cur = c.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
        cur.execute("SELECT payload FROM jobs WHERE idempotency_key = %s", (asset_id,))
        return cur.fetchone()[0]["path"]


def run_s3_check(stack_dir):
    senv, aenv = stack_files(stack_dir)
    assert aenv["ATRIUM_STORAGE_BACKEND"] == "s3", aenv.get("ATRIUM_STORAGE_BACKEND")
    t = new_tenant(stack_dir)
    body = PNG + os.urandom(4096)
    r = requests.post(senv["ATRIUM_BASE_URL"] + "/v1/media", data=body, timeout=30,
                      headers={"Authorization": "Bearer " + t["api_key"], "Atrium-Filename": "s3.png"})
    assert r.status_code == 201, r.text
    asset = r.json()["id"]
    # the storage step of atrium-media, through the configured adapter (the s3 backend)
    p = ctl(stack_dir, "storage", "put", t["tenant_id"], asset, "original", job_path(senv, t["tenant_id"], asset),
            "image/png")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["backend"] == "s3" and out["size"] == len(body), out
    key = out["key"]
    assert key == f"t/{t['tenant_id']}/media/{asset}/original"
    # the object is in s3rver's bucket, byte for byte
    with open(os.path.join(senv["ATRIUM_S3_DATA"], "atrium", key + "._S3rver_object"), "rb") as f:
        assert f.read() == body
    # a presigned GET through the SigV4-checking front works
    p = ctl(stack_dir, "storage", "presign", t["tenant_id"], asset, "original", "300")
    assert p.returncode == 0, p.stderr
    url = json.loads(p.stdout)["url"]
    assert url.startswith(senv["ATRIUM_S3_URL"] + "/atrium/" + key + "?"), url
    g = requests.get(url, timeout=30)
    assert g.status_code == 200 and g.content == body, g.status_code
    # one changed signature byte: refused
    path, q = url.split("?", 1)
    qs = dict(urllib.parse.parse_qsl(q))
    sig = qs["X-Amz-Signature"]
    qs["X-Amz-Signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert requests.get(path + "?" + urllib.parse.urlencode(qs), timeout=30).status_code == 403
    # past its expiry: refused
    p = ctl(stack_dir, "storage", "presign", t["tenant_id"], asset, "original", "1")
    expired = json.loads(p.stdout)["url"]
    time.sleep(2.1)
    assert requests.get(expired, timeout=30).status_code == 403
    # a client with the wrong secret key cannot store (s3_verify.js checks what s3rver does not)
    p = ctl(stack_dir, "storage", "put", t["tenant_id"], asset, "wrong", "/etc/hostname",
            env_extra={"ATRIUM_S3_SECRET_KEY": "not-the-secret"})
    assert p.returncode != 0
    assert not os.path.exists(os.path.join(senv["ATRIUM_S3_DATA"], "atrium",
                                           f"t/{t['tenant_id']}/media/{asset}/wrong._S3rver_object"))
    # delete removes it from the bucket
    assert ctl(stack_dir, "storage", "delete", t["tenant_id"], asset, "original").returncode == 0
    assert ctl(stack_dir, "storage", "stat", t["tenant_id"], asset, "original").returncode != 0
