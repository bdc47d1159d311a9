"""The s3 stack's end-to-end checks, shared by tests/api/test_storage_s3.py (when the running stack
is on s3) and tests/reliability/test_storage_s3.py (which restarts the stack on s3): bytes stored
under their derived key in s3rver (behind s3_verify.js, which checks every SigV4 signature), a
presigned GET that works, and a tampered or expired one that is refused.

run_s3_check runs the storage step through the StorageAdapter with `atriumctl storage put`;
run_s3_media_check goes through atrium-media (workers/media.c) itself: tus upload, variants stored in
s3rver, download redirects to presigned URLs, DELETE's media.delete job, reprocess."""
import base64
import json
import os
import subprocess
import tempfile
import time
import urllib.parse
import uuid

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


def run_s3_check(stack_dir):
    """The StorageAdapter's s3 backend driven by `atriumctl storage` (as an operator checks a
    deployment). Its object is a file of its own under a fresh asset id: an asset uploaded
    through nginx is atrium-media's, which stores or deletes its keys meanwhile (that path is
    run_s3_media_check's)."""
    senv, aenv = stack_files(stack_dir)
    assert aenv["ATRIUM_STORAGE_BACKEND"] == "s3", aenv.get("ATRIUM_STORAGE_BACKEND")
    t = new_tenant(stack_dir)
    body = PNG + os.urandom(4096)
    asset = str(uuid.uuid4())
    with tempfile.NamedTemporaryFile(suffix=".png") as src:
        src.write(body)
        src.flush()
        p = ctl(stack_dir, "storage", "put", t["tenant_id"], asset, "original", src.name, "image/png")
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


# --- through atrium-media: tus upload -> variants in s3rver -> download -> delete -> reprocess ---

TUS = {"Tus-Resumable": "1.0.0"}
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
FIX = os.path.join(os.path.dirname(__file__), "fixtures", "media")


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def s3_object(senv, key):
    """The bytes s3rver holds for key (its file store), or None."""
    try:
        with open(os.path.join(senv["ATRIUM_S3_DATA"], "atrium", key + "._S3rver_object"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker")


def tus_upload(base, key, name, data, chunks=2):
    """A creator's tus upload in `chunks` PATCHes; the asset's id."""
    auth = {"Authorization": "Bearer " + key}
    r = requests.post(base + "/v1/uploads", timeout=30, headers=dict(TUS, **auth, **{
        "Upload-Length": str(len(data)),
        "Upload-Metadata": "filename " + base64.b64encode(name.encode()).decode()}))
    assert r.status_code == 201, r.text
    loc, size, off = r.headers["Location"], -(-len(data) // chunks), 0
    while off < len(data):
        r = requests.patch(base + loc, data=data[off:off + size], timeout=60, headers=dict(
            TUS, **auth, **{"Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream"}))
        assert r.status_code == 204, r.text
        off += size
    return r.headers["Atrium-Asset-Id"]


def api(base, key, method, path, body=None):
    return requests.request(method, base + path, json=body, timeout=30,
                            headers={"Authorization": "Bearer " + key})


def wait_ready(base, key, asset, timeout=90):
    end = time.time() + timeout
    while time.time() < end:
        a = api(base, key, "GET", f"/v1/media/{asset}").json()
        if a["state"] in ("ready", "rejected"):
            assert (a["state"], a["reason"]) == ("ready", None), a
            return a
        time.sleep(0.05)
    raise AssertionError(f"asset {asset} not ready after {timeout} s")


def media_result(senv, tenant_id, asset):
    """(runs, {variant: {width, height, ...}}) from media_results."""
    with psycopg2.connect(host=senv["PGHOST"], port=senv["PGPORT"], dbname="atrium", user="atrium_app") as c:
        cur = c.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
        cur.execute("SELECT runs, variants FROM media_results WHERE asset_id = %s", (asset,))
        row = cur.fetchone()
        return (row[0], {v["name"]: v for v in row[1]}) if row else (0, {})


def presigned(senv, base, key, asset, variant):
    """The signed download URL's 302 (through nginx, no API key) to a presigned s3rver URL."""
    u = api(base, key, "POST", f"/v1/media/{asset}/download-url", {"variant": variant})
    assert u.status_code == 200, u.text
    assert u.json()["url"].startswith(base + f"/v1/media/{asset}/content?"), u.json()
    r = requests.get(u.json()["url"], timeout=30, allow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text)
    assert r.headers["Cache-Control"] == "no-store"          # nobody keeps the 60 s grant
    loc = r.headers["Location"]
    assert loc.startswith(senv["ATRIUM_S3_URL"] + "/atrium/t/"), loc
    return loc


def follow(url, mime, disposition):
    """GETs a presigned URL: the object store answers with the overrides the URL carries."""
    qs = dict(urllib.parse.parse_qsl(url.split("?", 1)[1]))
    assert qs["X-Amz-Expires"] == "60", qs                  # short-lived: the signed URL is the grant
    assert qs["response-content-type"] == mime, qs
    assert qs["response-content-disposition"].startswith(disposition + ";"), qs
    g = requests.get(url, timeout=30)
    assert g.status_code == 200, (g.status_code, g.text)
    assert g.headers["Content-Type"] == mime, g.headers
    assert g.headers["Content-Disposition"] == qs["response-content-disposition"], g.headers
    return g.content


def tamper(url):
    path, q = url.split("?", 1)
    qs = dict(urllib.parse.parse_qsl(q))
    sig = qs["X-Amz-Signature"]
    qs["X-Amz-Signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    return path + "?" + urllib.parse.urlencode(qs)


def run_s3_media_check(stack_dir):
    """A JPEG and a PDF uploaded with tus by a creator; atrium-media stores their variants in
    s3rver; signed download URLs redirect to presigned s3rver URLs whose bytes and headers are the
    stored ones; a tampered presigned URL is refused; an infected PDF is rejected with nothing left
    in the bucket; DELETE empties the bucket of the asset
    (media.delete); reprocess of the ready PDF fetches its stored original from s3rver."""
    senv, aenv = stack_files(stack_dir)
    assert aenv["ATRIUM_STORAGE_BACKEND"] == "s3", aenv.get("ATRIUM_STORAGE_BACKEND")
    base, t = senv["ATRIUM_BASE_URL"], new_tenant(stack_dir)
    tid, key = t["tenant_id"], t["api_key"]
    jpeg, pdf = fixture("rotated.jpg"), fixture("doc.pdf")
    a_jpg = tus_upload(base, key, "holiday photo.jpg", jpeg, chunks=3)
    a_pdf = tus_upload(base, key, "report.pdf", pdf)
    wait_ready(base, key, a_jpg)
    wait_ready(base, key, a_pdf)
    prefix = f"t/{tid}/media/"
    # every variant in s3rver; served bytes and dimensions are the stored ones
    _, variants = media_result(senv, tid, a_jpg)
    assert set(variants) == {"original", "preview", "thumb"}, variants
    for name, v in variants.items():
        stored = s3_object(senv, prefix + f"{a_jpg}/{name}")
        assert stored is not None, name
        loc = presigned(senv, base, key, a_jpg, name)
        assert loc.startswith(senv["ATRIUM_S3_URL"] + "/atrium/" + prefix + f"{a_jpg}/{name}?"), loc
        got = follow(loc, "image/jpeg", "inline")
        assert got == stored and jpeg_size(got) == (v["width"], v["height"]), name
    assert s3_object(senv, prefix + f"{a_pdf}/original") == pdf
    assert s3_object(senv, prefix + f"{a_pdf}/thumb") is None
    loc = presigned(senv, base, key, a_pdf, "original")
    assert follow(loc, "application/pdf", "attachment") == pdf
    assert "report.pdf" in urllib.parse.unquote(loc)
    # the verifying front refuses a presigned URL with one changed signature byte
    assert requests.get(tamper(loc), timeout=30).status_code == 403
    # DELETE: atrium-media's media.delete job removes every object of the asset
    assert api(base, key, "DELETE", f"/v1/media/{a_jpg}").status_code == 204
    end = time.time() + 60
    while any(s3_object(senv, prefix + f"{a_jpg}/{n}") for n in variants) and time.time() < end:
        time.sleep(0.1)
    assert [n for n in variants if s3_object(senv, prefix + f"{a_jpg}/{n}") is not None] == []
    # a rejected asset (clamd finds EICAR in a PDF) leaves nothing in the bucket
    a_bad = tus_upload(base, key, "invoice.pdf", pdf + b"\n%" + EICAR + b"\n", chunks=1)
    end = time.time() + 90
    while api(base, key, "GET", f"/v1/media/{a_bad}").json()["state"] not in ("ready", "rejected") \
            and time.time() < end:
        time.sleep(0.05)
    bad = api(base, key, "GET", f"/v1/media/{a_bad}").json()
    assert (bad["state"], bad["reason"]) == ("rejected", "infected"), bad
    assert not os.path.isdir(os.path.join(senv["ATRIUM_S3_DATA"], "atrium", prefix + a_bad))
    # reprocess: the incoming bytes are gone, the stored original comes back from s3rver
    assert api(base, key, "POST", f"/v1/media/{a_pdf}/reprocess").status_code == 202
    end = time.time() + 90
    while media_result(senv, tid, a_pdf)[0] < 2 and time.time() < end:
        time.sleep(0.1)
    assert media_result(senv, tid, a_pdf)[0] == 2
    wait_ready(base, key, a_pdf)
    assert follow(presigned(senv, base, key, a_pdf, "original"), "application/pdf", "attachment") == pdf
    assert s3_object(senv, prefix + f"{a_pdf}/original") == pdf
