"""Small files in one request through nginx: POST /v1/media (API key; the body spooled by nginx
like a tus chunk) and single-use signed upload URLs (POST /v1/media/upload-url, then a PUT without
an API key whose signature nginx checks with auth_request before it reads the body)."""
import base64
import shutil
import subprocess
import threading
import time
import urllib.parse

import requests

from conftest import BASE, Tenant, assert_problem, pg

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")
SINGLE_MB = 20   # ATRIUM_UPLOAD_SINGLE_MB's default, the cap nginx/snippets/server.conf sets


def upload(client, data, name="photo.png", extra=None):
    h = {"Authorization": f"Bearer {client.key}", "Content-Type": "image/png"}
    if name is not None:
        h["Atrium-Filename"] = urllib.parse.quote(name)
    h.update(extra or {})
    return requests.post(BASE + "/v1/media", headers=h, data=data, timeout=60)


def job_of(tenant, asset):
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT kind, queue, payload FROM jobs WHERE idempotency_key = %s", (asset,))
        return cur.fetchone()


def url_row(tenant, url_id):
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT used_at IS NOT NULL, asset_id FROM upload_urls WHERE id = %s", (url_id,))
        return cur.fetchone()


def test_single_upload_becomes_an_asset_with_its_job(tenant, other, media_paused):
    name = "phöto ünïcode.png"
    r = upload(tenant.owner, PNG, name=name, extra={"Atrium-Field": "avatar"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["Location"] == f"/v1/media/{a['id']}"
    assert (a["state"], a["mime"], a["type"], a["size"], a["filename"], a["field"]) == \
        ("uploaded", "image/png", "image", len(PNG), name, "avatar")
    kind, queue, payload = job_of(tenant, a["id"])
    assert (kind, queue) == ("media.process", "media")
    with open(payload["path"], "rb") as f:          # the spooled body, renamed into place
        assert f.read() == PNG
    assert tenant.owner.get(f"/v1/media/{a['id']}").json()["id"] == a["id"]
    assert_problem(other.owner.get(f"/v1/media/{a['id']}"), 404)


def test_single_upload_with_upload_metadata(tenant):
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in {"filename": "m.png", "filetype": "image/png", "field": "f1"}.items())
    r = upload(tenant.owner, PNG, name=None, extra={"Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    assert (r.json()["filename"], r.json()["field"]) == ("m.png", "f1")


def test_single_upload_bad_input(tenant):
    assert_problem(upload(tenant.owner, PNG, name=None), 400)                  # no name
    assert_problem(upload(tenant.owner, b"", name="empty.png"), 400)           # no body
    assert_problem(upload(tenant.owner, PNG, extra={"Atrium-Filename": "a%00b.png"}), 400)  # NUL
    assert_problem(upload(tenant.owner, PNG, name="../../etc/x.png"), 422)
    assert_problem(upload(tenant.owner, PNG, name="inv\u202egnp.exe"), 422)
    assert_problem(upload(tenant.owner, PNG, extra={"Atrium-Field": "bad field!"}), 422)
    assert_problem(upload(tenant.owner, PNG, extra={"Upload-Metadata": "filename !!"}), 400)
    # HTML named .png: the completing-upload checks refuse it with the reason, nothing is kept
    p = assert_problem(upload(tenant.owner, b"<html><script>alert(1)</script></html>" * 20,
                              name="x.png"), 422)
    assert "type_mismatch" in p["detail"] or "signature_mismatch" in p["detail"], p
    # a viewer may not upload; no key at all is 401
    assert_problem(upload(tenant.as_role("viewer"), PNG), 403)
    assert_problem(requests.post(BASE + "/v1/media", data=PNG, timeout=30,
                                 headers={"Atrium-Filename": "a.png"}), 401)


def test_single_upload_over_the_cap_is_nginx_json_413(tenant):
    r = upload(tenant.owner, PNG + b"\0" * (SINGLE_MB * 1024 * 1024))
    assert_problem(r, 413)


# --- signed upload URLs ------------------------------------------------------------------------

def new_url(client, **kw):
    body = {"filename": "signed.png", **kw}
    r = client.post("/v1/media/upload-url", body)
    assert r.status_code == 201, r.text
    return r.json()


def put(url, data):
    return requests.put(BASE + url, data=data, timeout=60)


def test_signed_url_stores_once_then_410(tenant):
    u = new_url(tenant.owner, field="doc", max_size=1000)
    assert u["method"] == "PUT" and u["max_size"] == 1000 and u["url"].startswith(
        f"/v1/media/signed-uploads/{tenant.id}/{u['id']}?")
    r = put(u["url"], PNG)
    assert r.status_code == 201, r.text
    a = r.json()
    assert (a["state"], a["filename"], a["field"], a["mime"]) == ("uploaded", "signed.png", "doc", "image/png")
    assert job_of(tenant, a["id"])[0] == "media.process"
    assert url_row(tenant, u["id"]) == (True, a["id"])
    assert_problem(put(u["url"], PNG), 410)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert tenant.owner.get(f"/v1/media/{a['id']}").status_code == 200


def test_signed_url_concurrent_puts_store_one_file(tenant):
    u = new_url(tenant.owner)
    codes = []

    def go():
        codes.append(put(u["url"], PNG).status_code)
    ts = [threading.Thread(target=go) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) == [201, 410, 410, 410], codes


def tamper(url, key, value):
    path, q = url.split("?")
    qs = dict(urllib.parse.parse_qsl(q))
    qs[key] = value
    return path + "?" + urllib.parse.urlencode(qs)


def test_signed_url_tampered_or_expired_is_403(tenant, other):
    u = new_url(tenant.owner, max_size=1000)
    qs = dict(urllib.parse.parse_qsl(u["url"].split("?")[1]))
    sig = qs["sig"]
    bad = [
        tamper(u["url"], "sig", ("0" if sig[0] != "0" else "1") + sig[1:]),
        tamper(u["url"], "max", "1001"),
        tamper(u["url"], "expires", str(int(qs["expires"]) + 1)),
        u["url"].split("?")[0],                                            # no query at all
        u["url"].replace(tenant.id, other.id),                             # another tenant
        u["url"].replace(u["id"], new_url(tenant.owner)["id"]),            # another URL's id
    ]
    for b in bad:
        assert_problem(put(b, PNG), 403)
    assert url_row(tenant, u["id"]) == (False, None)    # none of them spent it
    # the check route itself, called from outside, grants nothing
    assert_problem(requests.get(BASE + "/v1/media/signed-uploads/check", timeout=30), 403)
    # past its expiry (signed into the URL): 403
    e = new_url(tenant.owner, expires_in=1)
    time.sleep(2.1)
    assert_problem(put(e["url"], PNG), 403)
    # the URL still works after all that
    assert put(u["url"], PNG).status_code == 201


def test_signed_url_refuses_a_bad_body_before_reading_it(tenant):
    """With a bad signature nginx answers before the body: curl (Expect: 100-continue) sends 0 bytes."""
    if not shutil.which("curl"):
        raise AssertionError("SKIPPED loudly: curl is not installed")
    u = new_url(tenant.owner)
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
                        "-T", "-", "-H", "Expect: 100-continue",
                        "--expect100-timeout", "30", BASE + tamper(u["url"], "sig", "0" * 64)],
                       input=b"\0" * (8 * 1024 * 1024), capture_output=True, timeout=60)
    code, sent = p.stdout.decode().split()
    assert code == "403" and float(sent) == 0, p.stdout


def test_signed_url_size_and_validation(tenant):
    u = new_url(tenant.owner, max_size=100)
    assert_problem(put(u["url"], PNG + b"\0" * 100), 413)
    assert url_row(tenant, u["id"]) == (False, None)
    # a rejected file spends nothing: the URL stores the next, acceptable file
    v = new_url(tenant.owner)
    assert_problem(put(v["url"], b"<?php system($_GET['c']); ?>" * 10), 422)
    assert put(v["url"], PNG).status_code == 201
    assert_problem(put(new_url(tenant.owner)["url"], b""), 400)


def test_upload_url_request_validation(tenant):
    c = tenant.owner
    assert_problem(c.post("/v1/media/upload-url", {}), 422, "filename")
    assert_problem(c.post("/v1/media/upload-url", {"filename": "../x.png"}), 422, "filename")
    assert_problem(c.post("/v1/media/upload-url", {"filename": "a.png",
                                                   "max_size": (SINGLE_MB << 20) + 1}), 422, "max_size")
    assert_problem(c.post("/v1/media/upload-url", {"filename": "a.png", "expires_in": 10 ** 6}), 422,
                   "expires_in")
    assert_problem(c.post("/v1/media/upload-url", {"filename": "a.png", "field": "a b"}), 422, "field")
    assert_problem(c.post("/v1/media/upload-url", {"filename": "a.png", "extra": 1}), 422)
    assert_problem(tenant.as_role("viewer").post("/v1/media/upload-url", {"filename": "a.png"}), 403)


def test_signed_url_cors_preflight(tenant):
    """A browser's PUT from another origin: the preflight is answered (after nginx checked the
    signature), a tampered URL's is not."""
    u = new_url(tenant.owner)
    h = {"Origin": "https://forms.example", "Access-Control-Request-Method": "PUT"}
    r = requests.options(BASE + u["url"], headers=h, timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    r = requests.options(BASE + tamper(u["url"], "sig", "0" * 64), headers=h, timeout=30)
    assert r.status_code == 403
    assert url_row(tenant, u["id"]) == (False, None)


def test_nginx_refusals_on_upload_locations_carry_cors(tenant):
    """nginx's own refusals of a signed URL (auth_request's 403 for a tampered or expired URL, the
    body cap's 413) and of a public tus request without a token (401) reach a cross-origin
    browser as the problem, not as a CORS error: they carry Access-Control-Allow-Origin like the
    handlers' answers. The same problem pages elsewhere carry none."""
    u = new_url(tenant.owner)
    h = {"Origin": "https://forms.example"}
    for bad in (tamper(u["url"], "sig", "0" * 64), tamper(u["url"], "expires", "1")):
        r = requests.put(BASE + bad, data=PNG, headers=h, timeout=30)
        assert_problem(r, 403)
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["X-Content-Type-Options"] == "nosniff"     # the shared headers stay
    r = requests.put(BASE + u["url"], data=b"\0" * ((SINGLE_MB << 20) + 1), headers=h, timeout=60)
    assert_problem(r, 413)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert url_row(tenant, u["id"]) == (False, None)
    r = requests.post(BASE + "/v1/public/uploads", timeout=30, headers=dict(h, **{
        "Tus-Resumable": "1.0.0", "Upload-Length": "10"}))
    assert_problem(r, 401)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # nginx's 413 on another location: no CORS header
    r = requests.post(BASE + "/v1/flows", data=b"{" * (2 << 20), headers=dict(h, **{
        "Authorization": "Bearer " + tenant.owner.key, "Content-Type": "application/json"}), timeout=30)
    assert_problem(r, 413)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_single_uploads_count_against_the_quota(media_paused):
    """POST /v1/media and a signed PUT are judged against the tenant's quota like a tus creation
    (413 when the file does not fit in what is left, the URL left unspent) and charge it
    (atrium-media is paused: the 1x1 PNG would be rejected and its charge given back)."""
    t = Tenant()
    r = upload(t.owner, PNG)
    assert r.status_code == 201, r.text
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT used_bytes FROM storage_quotas WHERE tenant_id = %s", (t.id,))
        assert cur.fetchone()[0] == len(PNG)              # the row exists and holds the charge
        cur.execute("UPDATE storage_quotas SET quota_bytes = %s WHERE tenant_id = %s",
                    (len(PNG) + 10, t.id))
    p = assert_problem(upload(t.owner, PNG), 413)
    assert "quota" in p["detail"], p
    u = new_url(t.owner)
    assert "quota" in assert_problem(put(u["url"], PNG), 413)["detail"]
    assert url_row(t, u["id"]) == (False, None)
