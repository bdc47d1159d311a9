"""Public upload sessions and tus at /v1/public/uploads through nginx: session creation and its
limits, the token checked by nginx auth_request before the body is read, rate limits per address
(nginx) and per session (Redis), field/session/quota limits at creation, the acceptance check with
the field's accept list, accounting of terminated and rejected uploads, and tenant isolation.

Each test that starts sessions uses its own loopback source address (127.0.0.x; nginx listens on
127.0.0.1 and Linux routes all of 127/8 to lo, so binding the client socket's source address is
enough, no extra listen): the per-address session zone one test exhausts never slows another."""
import base64
import glob
import hashlib
import hmac
import os
import re
import socket
import threading
import time
import uuid

import pytest

from conftest import BASE, ENV, Client, assert_problem, pg

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")
ZIP = (b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 16 + b"\x01\x00\x00\x00a.txtA"
       + b"PK\x05\x06" + b"\x00" * 18)
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"
TUS = {"Tus-Resumable": "1.0.0"}
FLOW = {
    "name": "Public uploads",
    "uploads": {"max_files": 3, "max_total_bytes": 1000000},
    "steps": [{"key": "files", "fields": [
        {"key": "photo", "label": "Photo", "type": "file", "accept": ["image/png"], "max_size": 5000},
        {"key": "doc", "label": "Document", "type": "file"},
    ]}],
}


def meta(**kw):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


def published_flow(tenant, body=FLOW):
    r = tenant.owner.post("/v1/flows", body)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert tenant.owner.post(f"/v1/flows/{fid}/publish").status_code == 200
    return fid


def start_session(client, fid):
    """A session, waiting out nginx's per-address session limit (Retry-After) when it is hit."""
    for _ in range(30):
        r = client.post(f"/v1/public/flows/{fid}/sessions")
        if r.status_code != 429:
            break
        time.sleep(int(r.headers.get("Retry-After", "1")))
    assert r.status_code == 201, r.text
    return r.json()


def tus(client, token, method, path, headers=None, data=None):
    h = dict(TUS, **(headers or {}))
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if data is not None:
        h.setdefault("Content-Type", "application/offset+octet-stream")
    for _ in range(30):   # nginx's per-address upload zone: wait it out, it is not under test here
        r = client.s.request(method, BASE + path, headers=h, data=data, timeout=60)
        if r.status_code != 429 or "session may start" in r.text:
            return r
        time.sleep(int(r.headers.get("Retry-After", "1")))
    return r


def create(client, token, length, name="photo.png", field="photo", data=None):
    m = {"filename": name}
    if field is not None:
        m["field"] = field
    return tus(client, token, "POST", "/v1/public/uploads",
               {"Upload-Length": str(length), "Upload-Metadata": meta(**m)}, data)


def usage(tenant_id, session_id=None):
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT used_bytes FROM storage_quotas WHERE tenant_id = %s", (tenant_id,))
        q = cur.fetchone()
        s = None
        if session_id:
            cur.execute("SELECT used_files, used_bytes FROM upload_sessions WHERE tenant_id = %s"
                        " AND id = %s", (tenant_id, session_id))
            s = cur.fetchone()
    return (q[0] if q else None), s


def signing_key():
    """The session token key as atrium-fcgi derives it (secrets_derive_key): HMAC-SHA256 of the
    newest master key over the purpose. The test runs as root, as the stack does."""
    try:
        files = glob.glob(os.path.join(ENV["ATRIUM_KEYS_DIR"], "*.key"))
        newest = max(files, key=lambda f: int(os.path.basename(f).split(".")[0]))
        with open(newest) as f:
            master = bytes.fromhex(f.read().strip())
    except (OSError, ValueError) as e:
        pytest.skip(f"SKIPPED: cannot read the stack's master key to sign an expired token ({e}); "
                    "run the suite as root, as scripts/test.sh does")
    return hmac.new(master, b"atrium-upload-session-token-v1", hashlib.sha256).digest()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(tenant_id, flow_id, version, session_id, expires):
    enc = b64url(f"u1|{tenant_id}|{flow_id}|{version}|{session_id}|{expires}".encode())
    return enc + "." + b64url(hmac.new(signing_key(), enc.encode(), hashlib.sha256).digest())


# -- sessions ----------------------------------------------------------------------------------

def test_session_returns_token_expiry_and_limits(tenant):
    fid = published_flow(tenant)
    s = start_session(Client(source="127.0.0.10"), fid)
    assert s["flow_id"] == fid and s["flow_version"] == 1 and s["upload_url"] == "/v1/public/uploads"
    assert s["token"] and uuid.UUID(s["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["expires_at"]), s["expires_at"]   # ISO 8601, UTC
    lim = s["limits"]
    assert lim["max_files"] == 3 and lim["max_total_bytes"] == 1000000
    fields = {f["key"]: f for f in lim["fields"]}
    assert set(fields) == {"photo", "doc"}
    assert fields["photo"]["accept"] == ["image/png"] and fields["photo"]["max_size"] == 5000
    # a field without accept gets the built-in safe list, and the upload size limit
    assert "image/jpeg" in fields["doc"]["accept"] and "application/pdf" in fields["doc"]["accept"]
    assert "text/html" not in fields["doc"]["accept"] and fields["doc"]["max_size"] > 5000
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT tenant_id::text, flow_id::text, flow_version, max_files FROM upload_sessions"
                    " WHERE id = %s", (s["id"],))
        assert cur.fetchone() == (tenant.id, fid, 1, 3)


def test_session_defaults_come_from_config(tenant):
    fid = published_flow(tenant, {"name": "no uploads settings", "steps": FLOW["steps"]})
    lim = start_session(Client(source="127.0.0.10"), fid)["limits"]
    assert lim["max_files"] == 10 and lim["max_total_bytes"] == 1024 * 1024 * 1024


def test_unknown_or_unpublished_flow_is_404(tenant):
    c = Client(source="127.0.0.11")
    assert_problem(c.post(f"/v1/public/flows/{uuid.uuid4()}/sessions"), 404)
    r = tenant.owner.post("/v1/flows", FLOW)
    draft = r.json()["id"]
    assert_problem(c.post(f"/v1/public/flows/{draft}/sessions"), 404)
    fid = published_flow(tenant)
    assert tenant.owner.post(f"/v1/flows/{fid}/unpublish").status_code == 200
    assert_problem(c.post(f"/v1/public/flows/{fid}/sessions"), 404)


def test_flow_file_fields_are_validated(tenant):
    bad = {"name": "bad accept", "steps": [{"key": "s", "fields": [
        {"key": "f", "label": "F", "type": "file", "accept": ["image/png", "text/html"]}]}]}
    assert_problem(tenant.owner.post("/v1/flows", bad), 422, "steps[0].fields[0].accept[1]")
    ok = {"name": "good accept", "steps": [{"key": "s", "fields": [
        {"key": "f", "label": "F", "type": "file", "accept": ["image/*", ".docx", "application/pdf"],
         "max_size": 1000}]}]}
    assert tenant.owner.post("/v1/flows", ok).status_code == 201


def test_rapid_session_creations_are_limited_per_address(tenant):
    fid = published_flow(tenant)
    flood = Client(source="127.0.0.2")
    codes = [flood.post(f"/v1/public/flows/{fid}/sessions").status_code for _ in range(100)]
    assert codes.count(201) >= 1 and codes.count(429) >= 50, codes
    assert set(codes) <= {201, 429}, codes
    r = flood.post(f"/v1/public/flows/{fid}/sessions")
    p = assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1 and "rate" in p["detail"]
    # another client address is still served meanwhile
    assert Client(source="127.0.0.3").post(f"/v1/public/flows/{fid}/sessions").status_code == 201


# -- the token, checked before the body ---------------------------------------------------------

def test_missing_tampered_expired_and_foreign_tokens(tenant):
    c = Client(source="127.0.0.12")
    fid, fid2 = published_flow(tenant), published_flow(tenant)
    s, s2, s3 = start_session(c, fid), start_session(c, fid), start_session(c, fid2)
    r = create(c, s["token"], len(PNG))
    assert r.status_code == 201, r.text
    loc = r.headers["Location"]
    assert loc.startswith("/v1/public/uploads/")

    assert_problem(create(c, None, len(PNG)), 401)
    assert tus(c, None, "HEAD", loc).status_code == 401   # HEAD: no body to check
    assert_problem(create(c, "garbage", len(PNG)), 401)
    tampered = s["token"][:-2] + ("AA" if not s["token"].endswith("AA") else "BB")
    assert_problem(create(c, tampered, len(PNG)), 401)
    # another session's token (same flow) and another flow's token on this session's upload: 403
    # from the token check, before any body is read
    for other in (s2["token"], s3["token"]):
        assert tus(c, other, "HEAD", loc).status_code == 403
        assert_problem(tus(c, other, "PATCH", loc, {"Upload-Offset": "0"}, PNG), 403)
        assert_problem(tus(c, other, "DELETE", loc), 403)
    # another flow's token cannot name this flow's field either
    assert_problem(create(c, s3["token"], len(PNG), field="nope"), 422, "Upload-Metadata.field")
    # the owner's token still works, also through POST with X-HTTP-Method-Override
    assert tus(c, s["token"], "HEAD", loc).status_code == 200
    r = tus(c, s["token"], "POST", loc, {"X-HTTP-Method-Override": "HEAD"})
    assert r.status_code == 200 and r.headers["Upload-Offset"] == "0", r.text
    assert_problem(tus(c, s2["token"], "POST", loc, {"X-HTTP-Method-Override": "DELETE"}), 403)


def test_expired_token_is_401(tenant):
    c = Client(source="127.0.0.12")
    fid = published_flow(tenant)
    s = start_session(c, fid)
    # a token the server's own key signs, but past its expiry; and a fresh one as the control
    exp = sign(tenant.id, fid, 1, s["id"], int(time.time()) - 5)
    p = assert_problem(create(c, exp, len(PNG)), 401)
    assert "expired" in p["detail"], p
    fresh = sign(tenant.id, fid, 1, s["id"], int(time.time()) + 600)
    assert create(c, fresh, len(PNG)).status_code == 201


def _spool_files():
    return [f for f in glob.glob(os.path.join(ENV["STACK_DIR"], "nginx", "tmp", "upload", "**"),
                                 recursive=True) if os.path.isfile(f)]


def _raw_request(head, first_body_bytes):
    """Sends the request head and a few body bytes, then reads what nginx answers at once."""
    host, port = BASE.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    try:
        s.sendall(head.encode() + first_body_bytes)
        return s.recv(65536).decode(errors="replace")
    finally:
        s.close()


def test_large_body_without_valid_token_is_refused_before_nginx_stores_it(tenant):
    c = Client(source="127.0.0.13")
    s = start_session(c, published_flow(tenant))
    loc = create(c, s["token"], 100000, name="big.pdf", field="doc").headers["Location"]
    size = 20 * 1024 * 1024
    log = os.path.join(ENV["STACK_DIR"], "nginx", "logs", "error.log")
    for token in (None, "not-a-token", s["token"][:-3] + "xyz"):
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (f"PATCH {loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n{auth}"
                f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {size}\r\nConnection: close\r\n\r\n")
        # nginx answers after the headers alone: 20 MiB announced, 1 KiB sent
        reply = _raw_request(head, b"x" * 1024)
        assert reply.startswith("HTTP/1.1 401"), reply[:200]
        assert "application/problem+json" in reply
    # nothing was buffered for this upload's URL, and nothing is left in the spool
    time.sleep(0.2)
    with open(log, errors="replace") as f:
        buffered = [line for line in f if "buffered to a temporary file" in line and loc in line]
    assert buffered == [], buffered
    assert _spool_files() == []
    # control: with the valid token the same URL's body is spooled (and the log says so)
    r = tus(c, s["token"], "PATCH", loc, {"Upload-Offset": "0"}, b"%PDF-1.4\n" + b"0" * 1000)
    assert r.status_code == 204, r.text
    with open(log, errors="replace") as f:
        assert any("buffered to a temporary file" in line and loc in line for line in f)


def test_cors_preflight_needs_no_token(anon):
    r = anon.req("OPTIONS", "/v1/public/uploads", headers={"Origin": "https://example.com",
                                                           "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "Upload-Offset" in r.headers["Access-Control-Expose-Headers"]


# -- limits at creation -------------------------------------------------------------------------

def test_field_session_and_file_count_limits_at_creation(tenant):
    c = Client(source="127.0.0.14")
    s = start_session(c, published_flow(tenant))
    t = s["token"]
    assert_problem(create(c, t, 5001), 413)                                  # photo max_size 5000
    assert_problem(create(c, t, 1000001, name="a.pdf", field="doc"), 413)    # session max_total
    assert_problem(create(c, t, 10, field=None), 400)                        # field is required
    assert_problem(create(c, t, 10, field="nope"), 422, "Upload-Metadata.field")
    locs = []
    for i in range(3):
        r = create(c, t, 400000 if i < 2 else 100, name=f"f{i}.pdf", field="doc")
        assert r.status_code == 201, r.text
        locs.append(r.headers["Location"])
    assert_problem(create(c, t, 100, name="f3.pdf", field="doc"), 413)       # max_files 3
    # bytes: 800100 of 1000000 used; termination gives a file and its bytes back
    assert usage(tenant.id, s["id"])[1] == (3, 800100)
    assert tus(c, t, "DELETE", locs[0]).status_code == 204
    assert usage(tenant.id, s["id"])[1] == (2, 400100)
    assert create(c, t, 100, name="f4.pdf", field="doc").status_code == 201


def test_concurrent_creations_never_exceed_the_session_limits(tenant):
    fid = published_flow(tenant)
    c = Client(source="127.0.0.21")
    s = start_session(c, fid)
    results = []

    def one(i):
        results.append(create(Client(source="127.0.0.21"), s["token"], 1000, name=f"p{i}.pdf",
                              field="doc").status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 3 + [413] * 5, results
    assert usage(tenant.id, s["id"])[1] == (3, 3000)


def test_per_session_creation_rate_in_redis(tenant):
    c = Client(source="127.0.0.15")
    t = start_session(c, published_flow(tenant))["token"]
    seen = None
    for _ in range(45):   # the test profile allows 20 a minute; 45 cross at most one window edge
        r = create(c, t, 10, field=None)
        if r.status_code == 429:
            seen = r
            break
        assert r.status_code == 400, r.text
    assert seen is not None, "no 429 after 45 creations in one session"
    p = assert_problem(seen, 429)
    assert "session may start at most 20" in p["detail"]
    assert 1 <= int(seen.headers["Retry-After"]) <= 60


def test_tenant_quota_at_creation_and_termination_gives_bytes_back(other):
    c = Client(source="127.0.0.16")
    s = start_session(c, published_flow(other))
    t = s["token"]
    with pg("postgres") as conn, conn.cursor() as cur:
        cur.execute("UPDATE storage_quotas SET quota_bytes = used_bytes + 300000 WHERE tenant_id = %s",
                    (other.id,))
    before = usage(other.id)[0]
    r = create(c, t, 200000, name="a.pdf", field="doc")
    assert r.status_code == 201, r.text
    assert usage(other.id)[0] == before + 200000
    p = assert_problem(create(c, t, 200000, name="b.pdf", field="doc"), 413)
    assert "quota" in p["detail"]
    assert tus(c, t, "DELETE", r.headers["Location"]).status_code == 204
    assert usage(other.id)[0] == before
    assert create(c, t, 200000, name="b.pdf", field="doc").status_code == 201
    with pg("postgres") as conn, conn.cursor() as cur:
        cur.execute("UPDATE storage_quotas SET quota_bytes = 10737418240 WHERE tenant_id = %s",
                    (other.id,))


# -- the acceptance check through the public path ----------------------------------------------

@pytest.mark.parametrize("name,content,field,reason", [
    ("photo.png", HTML, "photo", "type_mismatch"),          # an image extension on HTML
    ("photo.png", b"<?php system($_GET['c']); ?>\n", "photo", "type_mismatch"),
    ("photo.png", ZIP, "photo", "type_mismatch"),           # a PNG that is a zip
])
def test_content_abuse_is_rejected_with_a_reason(tenant, name, content, field, reason):
    c = Client(source="127.0.0.17")
    s = start_session(c, published_flow(tenant))
    r = create(c, s["token"], len(content), name=name, field=field, data=content)
    p = assert_problem(r, 422)
    assert any(e["field"] == "file" for e in p.get("errors", [])), p
    assert "rejected" in p["detail"] and reason in p["detail"], p
    # the rejected upload is gone, and holds nothing against the session or the tenant
    assert usage(tenant.id, s["id"])[1] == (0, 0)


def test_rejection_on_the_completing_patch_gives_bytes_back(tenant):
    c = Client(source="127.0.0.18")
    s = start_session(c, published_flow(tenant))
    r = create(c, s["token"], len(HTML), name="photo.png")
    assert r.status_code == 201
    q0 = usage(tenant.id)[0]
    assert usage(tenant.id, s["id"])[1] == (1, len(HTML))
    p = assert_problem(tus(c, s["token"], "PATCH", r.headers["Location"], {"Upload-Offset": "0"}, HTML), 422)
    assert "type_mismatch" in p["detail"] or "signature" in p["detail"], p
    assert usage(tenant.id, s["id"])[1] == (0, 0)
    assert usage(tenant.id)[0] == q0 - len(HTML)
    assert tus(c, s["token"], "HEAD", r.headers["Location"]).status_code == 404


def test_type_outside_the_fields_accept_list(tenant):
    c = Client(source="127.0.0.18")
    s = start_session(c, published_flow(tenant))
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
    p = assert_problem(create(c, s["token"], len(jpeg), name="me.jpg", field="photo", data=jpeg), 422)
    assert "type_not_accepted" in p["detail"] or "type_mismatch" in p["detail"], p
    # the same bytes as a PNG in the photo field are accepted and become the session's asset
    r = create(c, s["token"], len(PNG), name="me.png", field="photo", data=PNG)
    assert r.status_code == 201, r.text
    with pg("postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT session_id::text, flow_id::text, field, mime FROM media_assets WHERE id = %s",
                    (r.headers["Atrium-Asset-Id"],))
        assert cur.fetchone() == (s["id"], s["flow_id"], "photo", "image/png")


@pytest.mark.parametrize("name,reason", [
    ("invoice.php.png", "double_extension"),
    ("../../etc/passwd.png", "filename_path"),
    ("..\\..\\boot.png", "filename_path"),
    ("photo\u202egnp.exe.png", "filename_bidi"),
])
def test_bad_filenames_are_rejected_with_a_reason(tenant, name, reason):
    c = Client(source="127.0.0.19")
    s = start_session(c, published_flow(tenant))
    p = assert_problem(create(c, s["token"], len(PNG), name=name), 422)
    assert reason in p["detail"], p


# -- tenant isolation ---------------------------------------------------------------------------

def test_a_session_cannot_touch_another_tenants_upload(tenant, other):
    c = Client(source="127.0.0.20")
    s = start_session(c, published_flow(tenant))
    # a creator's upload in the other tenant
    h = dict(TUS, **{"Authorization": "Bearer " + other.owner.key, "Upload-Length": str(len(PNG)),
                     "Upload-Metadata": meta(filename="x.png")})
    r = other.owner.s.post(BASE + "/v1/uploads", headers=h, timeout=30)
    assert r.status_code == 201, r.text
    theirs = "/v1/public/uploads/" + r.headers["Location"].rsplit("/", 1)[1]
    assert tus(c, s["token"], "HEAD", theirs).status_code == 404   # HEAD: status only
    assert_problem(tus(c, s["token"], "PATCH", theirs, {"Upload-Offset": "0"}, PNG), 404)
    assert_problem(tus(c, s["token"], "DELETE", theirs), 404)
    h = dict(TUS, **{"Authorization": "Bearer " + other.owner.key})
    got = other.owner.s.head(BASE + r.headers["Location"], headers=h, timeout=30)
    assert got.status_code == 200 and got.headers["Upload-Offset"] == "0"
