"""Media end to end through nginx: a creator uploads with tus, atrium-media (the stack's worker, with
the stack's clamd) takes the asset uploaded -> processing -> ready | rejected, a signed download URL
is served by nginx from storage (X-Accel-Redirect) with nosniff, a sandboxing CSP and an RFC 6266
disposition; tampered or expired URLs are 403, other tenants get 404, unready assets 409, DELETE
removes the bytes, and the janitor removes expired unfinished uploads."""
import base64
import datetime
import os
import struct
import time
import urllib.parse

import pytest
import requests

from conftest import BASE, ENV, ROOT, Tenant, assert_problem, pg

FIX = os.path.join(ROOT, "tests", "fixtures", "media")
STORAGE = os.path.join(ENV["STACK_DIR"], "storage")
INCOMING = os.path.join(ENV["STACK_DIR"], "incoming")
MEDIA_LOG = os.path.join(ENV["ATRIUM_LOG_DIR"], "atrium-media.log")
TUS = {"Tus-Resumable": "1.0.0"}
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def tus_upload(client, name, data, chunks=1):
    """Uploads data with tus in `chunks` PATCH requests; returns the asset id and upload id."""
    h = dict(TUS, Authorization=f"Bearer {client.key}", **{
        "Upload-Length": str(len(data)),
        "Upload-Metadata": "filename " + base64.b64encode(name.encode()).decode()})
    r = requests.post(BASE + "/v1/uploads", headers=h, timeout=30)
    assert r.status_code == 201, r.text
    loc, size, off = r.headers["Location"], -(-len(data) // chunks), 0
    while off < len(data):
        r = requests.patch(BASE + loc, data=data[off:off + size], timeout=60, headers=dict(
            TUS, Authorization=f"Bearer {client.key}", **{
                "Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream"}))
        assert r.status_code == 204, r.text
        off += size
    return r.headers["Atrium-Asset-Id"], loc.rsplit("/", 1)[1]


def wait_final(client, asset, timeout=60):
    """Polls the asset until it is ready or rejected; returns it and every state seen."""
    seen, end = [], time.time() + timeout
    while time.time() < end:
        a = client.get(f"/v1/media/{asset}").json()
        if not seen or seen[-1] != a["state"]:
            seen.append(a["state"])
        if a["state"] in ("ready", "rejected"):
            return a, seen
        time.sleep(0.02)
    raise AssertionError(f"asset {asset} still {seen} after {timeout} s")


def processing_recorded(asset):
    """atrium-media logs media.processing when it commits that state."""
    with open(MEDIA_LOG) as f:
        return any('"event":"media.processing"' in l and asset in l for l in f)


def result(tenant, asset):
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT state, reason, mime, variants FROM media_results WHERE asset_id = %s",
                    (asset,))
        return cur.fetchone()


def stored(tenant, asset, variant="original"):
    return os.path.join(STORAGE, "t", tenant.id, "media", asset, variant)


def stored_files(tenant, asset):
    d = os.path.join(STORAGE, "t", tenant.id, "media", asset)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def incoming_dir(tenant, upload):
    return os.path.join(INCOMING, tenant.id, upload)


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF marker")


def iso_epoch(s):
    """An API timestamp ("2026-11-26T02:19:53Z") as seconds since the epoch."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def quota(tenant, charge=0):
    """The tenant's storage_quotas.used_bytes (after adding charge; the row is created when
    missing). Uploads charge their length themselves (sql/007_upload_accounting)."""
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("INSERT INTO storage_quotas (tenant_id, quota_bytes, used_bytes) VALUES"
                    " (%s, 1000000000, %s) ON CONFLICT (tenant_id) DO UPDATE SET used_bytes ="
                    " storage_quotas.used_bytes + %s RETURNING used_bytes",
                    (tenant.id, charge, charge))
        return cur.fetchone()[0]


def download_url(client, asset, body=None):
    r = client.post(f"/v1/media/{asset}/download-url", body) if body is not None else \
        client.req("POST", f"/v1/media/{asset}/download-url")
    assert r.status_code == 200, r.text
    return r.json()


def fetch(url):
    """GETs a download URL as a stranger would: no API key, no cookies."""
    return requests.get(url, timeout=30, allow_redirects=False)


def check_served_headers(r, inline):
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp, csp
    disp = r.headers["Content-Disposition"]
    assert disp.startswith("inline;" if inline else "attachment;"), disp
    assert "filename*=UTF-8''" in disp, disp


@pytest.fixture(scope="module")
def jpeg(request):
    """rotated.jpg uploaded in three chunks, processed to ready; (tenant, asset, upload, states)."""

    t = Tenant()
    asset, upload = tus_upload(t.owner, "holiday photo.jpg", fixture("rotated.jpg"), chunks=3)
    a, seen = wait_final(t.owner, asset)
    return t, asset, upload, a, seen


def test_jpeg_goes_through_processing_to_ready(jpeg):
    t, asset, upload, a, seen = jpeg
    assert a["state"] == "ready" and a["reason"] is None, a
    assert seen[-1] == "ready" and "rejected" not in seen
    # processing is committed on its own when the worker starts the asset: seen, or recorded
    assert "processing" in seen or processing_recorded(asset), seen
    state, reason, mime, variants = result(t, asset)
    assert (state, reason, mime) == ("ready", None, "image/jpeg")
    assert {v["name"] for v in variants} == {"original", "preview", "thumb"}
    assert stored_files(t, asset) == ["original", "preview", "thumb"]
    # the parts (and their assembled file) left the incoming area
    assert not os.path.exists(incoming_dir(t, upload))


def test_download_serves_the_stored_variants(jpeg):
    t, asset, _, _, _ = jpeg
    variants = {v["name"]: v for v in result(t, asset)[3]}
    for name in ("original", "preview", "thumb"):
        u = download_url(t.owner, asset, {"variant": name} if name != "original" else None)
        assert u["variant"] == name and iso_epoch(u["expires_at"]) > time.time()
        parsed = urllib.parse.urlsplit(u["url"])
        assert parsed.path == f"/v1/media/{asset}/content"
        r = fetch(u["url"])
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] == "image/jpeg"
        with open(stored(t, asset, name), "rb") as f:
            assert r.content == f.read()
        assert jpeg_size(r.content) == (variants[name]["width"], variants[name]["height"])
        check_served_headers(r, inline=True)      # a re-encoded image may be shown inline
        assert "holiday%20photo.jpg" in r.headers["Content-Disposition"]
    # thumb and preview are bounded; the original is upright (rotated.jpg is stored sideways)
    assert max(variants["thumb"]["width"], variants["thumb"]["height"]) <= 256
    assert max(variants["preview"]["width"], variants["preview"]["height"]) <= 1280


def test_viewer_may_download_but_not_delete(jpeg):
    t, asset, _, _, _ = jpeg
    viewer = t.as_role("viewer")
    assert fetch(download_url(viewer, asset)["url"]).status_code == 200
    assert_problem(viewer.delete(f"/v1/media/{asset}"), 403)


def test_tampered_urls_are_403(jpeg):
    t, asset, _, _, _ = jpeg
    url = download_url(t.owner, asset)["url"]
    parts = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(parts.query))

    def with_query(**kw):
        return parts._replace(query=urllib.parse.urlencode(dict(q, **kw))).geturl()

    flip = "0" if q["sig"][10] != "0" else "1"
    cases = [
        with_query(sig=q["sig"][:10] + flip + q["sig"][11:]),        # one byte of the signature
        with_query(exp=str(int(q["exp"]) + 1)),                      # a later expiry
        with_query(variant="thumb"),                                 # another variant
        with_query(sig=q["sig"].upper()),
        with_query(sig=""),
        parts._replace(query="").geturl(),
    ]
    other_id = asset[:-1] + ("0" if asset[-1] != "0" else "1")      # another asset's path
    cases.append(url.replace(asset, other_id))
    for bad in cases:
        r = fetch(bad)
        assert_problem(r, 403)
    assert fetch(url).status_code == 200                             # the original still works


def test_expired_url_is_403(jpeg):
    t, asset, _, _, _ = jpeg
    u = download_url(t.owner, asset, {"expires_in": 1})
    exp = int(urllib.parse.parse_qs(urllib.parse.urlsplit(u["url"]).query)["exp"][0])
    assert iso_epoch(u["expires_at"]) == exp, u          # what the client is told is what is signed
    while time.time() <= exp + 1:
        time.sleep(0.2)
    p = assert_problem(fetch(u["url"]), 403)
    assert "expired" in p["detail"]


def test_download_url_body_is_validated(jpeg):
    t, asset, _, _, _ = jpeg
    assert_problem(t.owner.post(f"/v1/media/{asset}/download-url", {"variant": "raw"}), 422, "variant")
    assert_problem(t.owner.post(f"/v1/media/{asset}/download-url", {"expires_in": 0}), 422, "expires_in")
    assert_problem(t.owner.post(f"/v1/media/{asset}/download-url", {"expires_in": 10 ** 9}), 422,
                   "expires_in")
    assert_problem(t.owner.post(f"/v1/media/{asset}/download-url", {"size": 1}), 422)


def test_other_tenant_gets_404(jpeg, other):
    t, asset, _, _, _ = jpeg
    assert_problem(other.owner.post(f"/v1/media/{asset}/download-url"), 404)
    assert_problem(other.owner.delete(f"/v1/media/{asset}"), 404)
    assert stored_files(t, asset) == ["original", "preview", "thumb"]


def test_heic_becomes_an_upright_jpeg(tenant):
    asset, _ = tus_upload(tenant.owner, "IMG_0001.HEIC", fixture("iphone.heic"))
    a, _ = wait_final(tenant.owner, asset)
    assert a["state"] == "ready", a
    variants = {v["name"]: v for v in result(tenant, asset)[3]}
    r = fetch(download_url(tenant.owner, asset)["url"])
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/jpeg"
    assert jpeg_size(r.content) == (variants["original"]["width"], variants["original"]["height"])
    assert "IMG_0001.jpg" in r.headers["Content-Disposition"]
    check_served_headers(r, inline=True)


def test_pdf_is_served_as_uploaded_and_as_attachment(tenant):
    data = fixture("doc.pdf")
    asset, upload = tus_upload(tenant.owner, "report.pdf", data, chunks=2)
    a, _ = wait_final(tenant.owner, asset)
    assert a["state"] == "ready", a
    assert stored_files(tenant, asset) == ["original"]
    assert not os.path.exists(incoming_dir(tenant, upload))
    assert_problem(tenant.owner.post(f"/v1/media/{asset}/download-url", {"variant": "thumb"}), 422,
                   "variant")
    r = fetch(download_url(tenant.owner, asset)["url"])
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "application/pdf"
    check_served_headers(r, inline=False)
    assert "report.pdf" in r.headers["Content-Disposition"]


def test_infected_file_is_rejected_and_its_bytes_deleted(tenant):
    """A PDF carrying the EICAR test string: type checks pass at upload, clamd finds it. (The bare
    EICAR file never gets that far: the upload itself is refused with 422.)"""
    h = dict(TUS, Authorization=f"Bearer {tenant.owner.key}", **{
        "Upload-Length": str(len(EICAR)), "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": "filename " + base64.b64encode(b"eicar.com").decode()})
    assert_problem(requests.post(BASE + "/v1/uploads", headers=h, data=EICAR, timeout=30), 422)
    data = fixture("doc.pdf") + b"\n%" + EICAR + b"\n"
    before = quota(tenant)
    asset, upload = tus_upload(tenant.owner, "invoice.pdf", data)
    a, _ = wait_final(tenant.owner, asset)
    assert (a["state"], a["reason"]) == ("rejected", "infected"), a
    assert quota(tenant) == before       # its bytes are gone: so is the charge its upload made
    assert stored_files(tenant, asset) == []
    assert not os.path.exists(incoming_dir(tenant, upload))
    assert_problem(tenant.owner.post(f"/v1/media/{asset}/download-url"), 409)


def test_unready_asset_is_409(tenant, media_paused):
    asset, upload = tus_upload(tenant.owner, "later.png", fixture("plain.png"))
    assert tenant.owner.get(f"/v1/media/{asset}").json()["state"] == "uploaded"
    p = assert_problem(tenant.owner.post(f"/v1/media/{asset}/download-url"), 409)
    assert "uploaded" in p["detail"]


def test_delete_removes_every_variant(tenant):
    asset, _ = tus_upload(tenant.owner, "gone.png", fixture("plain.png"))
    assert wait_final(tenant.owner, asset)[0]["state"] == "ready"
    url = download_url(tenant.owner, asset)["url"]
    assert stored_files(tenant, asset) != []
    before = quota(tenant)       # the upload charged its length (sql/007_upload_accounting)
    r = tenant.owner.delete(f"/v1/media/{asset}")
    assert r.status_code == 204, r.text
    assert quota(tenant) == before - len(fixture("plain.png"))
    assert_problem(tenant.owner.get(f"/v1/media/{asset}"), 404)
    assert_problem(tenant.owner.delete(f"/v1/media/{asset}"), 404)
    assert_problem(fetch(url), 404)                  # a URL signed before is dead too
    end = time.time() + 30                           # atrium-media's media.delete job
    while stored_files(tenant, asset) and time.time() < end:
        time.sleep(0.1)
    assert stored_files(tenant, asset) == []
    assert result(tenant, asset) is None


def test_delete_before_processing_leaves_nothing(tenant, media_paused):
    asset, upload = tus_upload(tenant.owner, "early.png", fixture("plain.png"))
    assert os.path.isdir(incoming_dir(tenant, upload))
    assert tenant.owner.delete(f"/v1/media/{asset}").status_code == 204
    os.kill(media_paused, 18)                        # SIGCONT: the job finds the asset gone
    end = time.time() + 30
    while os.path.exists(incoming_dir(tenant, upload)) and time.time() < end:
        time.sleep(0.1)
    assert not os.path.exists(incoming_dir(tenant, upload))
    assert stored_files(tenant, asset) == []


def test_janitor_removes_expired_partial_uploads(tenant):
    """An upload that never completes: once past Upload-Expires, atrium-media's janitor deletes its
    parts and row and gives its length back to the tenant's quota."""
    h = dict(TUS, Authorization=f"Bearer {tenant.owner.key}", **{
        "Upload-Length": "100000", "Upload-Metadata": "filename " + base64.b64encode(b"p.png").decode()})
    r = requests.post(BASE + "/v1/uploads", headers=h, timeout=30)
    assert r.status_code == 201, r.text
    loc = r.headers["Location"]
    upload = loc.rsplit("/", 1)[1]
    r = requests.patch(BASE + loc, data=fixture("plain.png")[:1000], timeout=30, headers=dict(
        TUS, Authorization=f"Bearer {tenant.owner.key}",
        **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}))
    assert r.status_code == 204, r.text
    assert os.path.isdir(incoming_dir(tenant, upload))
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT used_bytes FROM storage_quotas WHERE tenant_id = %s", (tenant.id,))
        before = cur.fetchone()[0]
        cur.execute("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = %s",
                    (upload,))
    assert requests.head(BASE + loc, headers=dict(TUS, Authorization=f"Bearer {tenant.owner.key}"),
                         timeout=30).status_code == 410
    end = time.time() + 60
    while os.path.exists(incoming_dir(tenant, upload)) and time.time() < end:
        time.sleep(0.2)
    assert not os.path.exists(incoming_dir(tenant, upload))
    assert requests.head(BASE + loc, headers=dict(TUS, Authorization=f"Bearer {tenant.owner.key}"),
                         timeout=30).status_code == 404
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT used_bytes FROM storage_quotas WHERE tenant_id = %s", (tenant.id,))
        assert cur.fetchone()[0] == before - 100000


def test_reprocess_reads_the_stored_original(tenant):
    """After a ready run the incoming bytes are gone: reprocess takes the stored original and the
    asset goes through processing to ready again, its bytes unchanged for a document."""
    data = fixture("doc.pdf")
    asset, _ = tus_upload(tenant.owner, "again.pdf", data)
    assert wait_final(tenant.owner, asset)[0]["state"] == "ready"
    r = tenant.owner.post(f"/v1/media/{asset}/reprocess")
    assert r.status_code == 202, r.text
    def runs():
        with pg() as conn:
            cur = conn.cursor()
            cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
            cur.execute("SELECT runs FROM media_results WHERE asset_id = %s", (asset,))
            return cur.fetchone()[0]

    end = time.time() + 60
    while runs() < 2 and time.time() < end:
        time.sleep(0.1)
    assert runs() == 2
    a, _ = wait_final(tenant.owner, asset)
    assert a["state"] == "ready", a
    assert fetch(download_url(tenant.owner, asset)["url"]).content == data


def test_lost_input_ends_rejected_not_stuck(tenant, media_paused):
    """Bytes gone for good before processing (here removed by hand): the asset ends rejected as
    processing_failed instead of staying 'processing' for ever."""
    asset, upload = tus_upload(tenant.owner, "lost.png", fixture("plain.png"))
    d = incoming_dir(tenant, upload)
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.kill(media_paused, 18)                        # SIGCONT
    a, _ = wait_final(tenant.owner, asset)
    assert (a["state"], a["reason"]) == ("rejected", "processing_failed"), a


def test_storage_is_not_reachable_directly(jpeg):
    """/_storage/ is an internal location: only an X-Accel-Redirect of the content route reaches it."""
    t, asset, _, _, _ = jpeg
    r = requests.get(f"{BASE}/_storage/t/{t.id}/media/{asset}/original", timeout=30)
    assert r.status_code == 404
    assert not r.content.startswith(b"\xff\xd8")
