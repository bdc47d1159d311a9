"""tus 1.0 for creators at /v1/uploads through nginx: creation, creation-with-upload, HEAD, PATCH in
chunks spooled to disk by nginx, offsets, 409/412/413/415/460, termination, tenant isolation, and
the completing chunk's acceptance check (asset row + media job, or a 422 with the reason)."""
import base64
import hashlib
import os
import threading

import pytest
import requests

from conftest import BASE, ENV, pg

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")
TUS = {"Tus-Resumable": "1.0.0"}


def meta(**kw):
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


def auth(client):
    return {"Authorization": f"Bearer {client.key}"}


def create(client, length, name="photo.png", extra=None, data=None):
    h = dict(TUS, **auth(client), **{"Upload-Length": str(length), "Upload-Metadata": meta(filename=name)})
    if data is not None:
        h["Content-Type"] = "application/offset+octet-stream"
    h.update(extra or {})
    return requests.post(BASE + "/v1/uploads", headers=h, data=data, timeout=30)


def patch(client, loc, offset, data, extra=None):
    h = dict(TUS, **auth(client), **{"Upload-Offset": str(offset),
                                     "Content-Type": "application/offset+octet-stream"})
    h.update(extra or {})
    return requests.patch(BASE + loc, headers=h, data=data, timeout=60)


def head(client, loc):
    return requests.head(BASE + loc, headers=dict(TUS, **auth(client)), timeout=30)


def stored_bytes(payload):
    """The upload's bytes from its media job's payload: one file, or the parts in offset order."""
    if "path" in payload:
        with open(payload["path"], "rb") as f:
            return f.read()
    names = sorted(os.listdir(payload["dir"]))
    assert len(names) == payload["parts"] and all(n.isdigit() for n in names), names
    out = b""
    for n in names:
        assert int(n) == len(out), (n, len(out))   # each part starts where the last ended
        with open(os.path.join(payload["dir"], n), "rb") as f:
            out += f.read()
    return out


def asset_row(tenant, asset_id):
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT state, mime, kind, size, filename FROM media_assets WHERE id = %s", (asset_id,))
        return cur.fetchone()


def test_upload_in_chunks_becomes_an_asset(tenant, media_paused):
    """A PNG padded to 3 chunks: each PATCH moves the offset; HEAD reports it; the last chunk
    creates an 'uploaded' asset (image/png) and its media.process job."""
    body = PNG + b"\0" * 20000
    r = create(tenant.owner, len(body))
    assert r.status_code == 201, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    loc = r.headers["Location"]
    assert r.headers["Upload-Offset"] == "0" and "GMT" in r.headers["Upload-Expires"]
    parts = [body[:7000], body[7000:14000], body[14000:]]
    off = 0
    for i, part in enumerate(parts):
        r = patch(tenant.owner, loc, off, part)
        assert r.status_code == 204, r.text
        off += len(part)
        assert r.headers["Upload-Offset"] == str(off)
        h = head(tenant.owner, loc)
        assert h.status_code == 200 and h.headers["Upload-Offset"] == str(off)
        assert h.headers["Upload-Length"] == str(len(body))
    asset = r.headers["Atrium-Asset-Id"]
    assert asset_row(tenant, asset) == ("uploaded", "image/png", "image", len(body), "photo.png")
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT kind, queue, payload FROM jobs WHERE idempotency_key = %s", (asset,))
        kind, queue, payload = cur.fetchone()
    assert (kind, queue) == ("media.process", "media")
    # the parts, named by offset and left for atrium-media to assemble, hold exactly the bytes sent
    assert payload["parts"] == 3 and payload["length"] == len(body) and "path" not in payload
    assert stored_bytes(payload) == body


def test_creation_with_upload(tenant, media_paused):     # the asset stays "uploaded" meanwhile
    r = create(tenant.owner, len(PNG), data=PNG)
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(PNG))
    assert asset_row(tenant, r.headers["Atrium-Asset-Id"])[0] == "uploaded"


def test_protocol_errors(tenant):
    r = create(tenant.owner, 100, extra={"Tus-Resumable": "0.2.2"})
    assert r.status_code == 412 and r.headers.get("Tus-Version") == "1.0.0"
    assert create(tenant.owner, 100, extra={"Upload-Length": "-1"}).status_code == 400
    assert create(tenant.owner, 100, extra={"Upload-Metadata": "filename !!"}).status_code == 400
    # over the configured maximum: refused at creation, before any byte
    assert create(tenant.owner, 1 << 40).status_code == 413
    loc = create(tenant.owner, 100).headers["Location"]
    # wrong offset: 409; wrong content type: 415; past the length: 413
    assert patch(tenant.owner, loc, 5, b"x" * 10).status_code == 409
    assert patch(tenant.owner, loc, 0, b"x" * 10,
                 {"Content-Type": "application/octet-stream"}).status_code == 415
    assert patch(tenant.owner, loc, 0, b"x" * 101).status_code == 413
    # checksum: a wrong sha1 is 460 and nothing moves; the right one is accepted
    bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = patch(tenant.owner, loc, 0, b"x" * 10, {"Upload-Checksum": f"sha1 {bad}"})
    assert r.status_code == 460, r.text
    assert head(tenant.owner, loc).headers["Upload-Offset"] == "0"
    good = base64.b64encode(hashlib.sha1(b"x" * 10).digest()).decode()
    assert patch(tenant.owner, loc, 0, b"x" * 10, {"Upload-Checksum": f"sha1 {good}"}).status_code == 204
    assert patch(tenant.owner, loc, 10, b"x", {"Upload-Checksum": "md5 AAAA"}).status_code == 400
    # termination
    r = requests.delete(BASE + loc, headers=dict(TUS, **auth(tenant.owner)), timeout=30)
    assert r.status_code == 204
    assert head(tenant.owner, loc).status_code == 404


def test_other_tenant_and_no_key(tenant, other):
    loc = create(tenant.owner, 100).headers["Location"]
    assert head(other.owner, loc).status_code == 404
    assert patch(other.owner, loc, 0, b"x").status_code == 404
    r = requests.patch(BASE + loc, headers=dict(TUS, **{"Upload-Offset": "0",
                       "Content-Type": "application/offset+octet-stream"}), data=b"x", timeout=30)
    assert r.status_code == 401
    assert requests.head(BASE + loc, headers=dict(TUS, **auth(tenant.as_role("viewer"))),
                         timeout=30).status_code == 403


@pytest.mark.parametrize("name,data,reason", [
    ("x.jpg", b"<!DOCTYPE html><html><script>alert(1)</script></html>\n", "type_mismatch"),
    ("y.png", b"<?php system($_GET['c']); ?>\n", "type_mismatch"),
    ("z.html", b"<html></html>\n", "extension_not_allowed"),
])
def test_rejected_content_answers_the_reason(tenant, name, data, reason):
    """An image extension on HTML or PHP content is refused when the upload completes: 422 with
    the reason, and no asset."""
    r = create(tenant.owner, len(data), name=name)
    assert r.status_code == 201, r.text
    r = patch(tenant.owner, r.headers["Location"], 0, data)
    assert r.status_code == 422, r.text
    assert reason in r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("name,reason", [
    ("../../etc/passwd.png", "filename_path"),
    ("a\u202egnp.exe", "filename_bidi"),
    ("shell.php.png", "double_extension"),
])
def test_bad_names_are_refused_at_creation(tenant, name, reason):
    r = create(tenant.owner, 10, name=name)
    assert r.status_code == 422 and reason in r.text, r.text


def test_concurrent_patches_one_wins(tenant):
    """Two PATCHes at the same offset: one 204, the other 409; the stored offset is one chunk."""
    size = 4 << 20
    loc = create(tenant.owner, 2 * size, name="a.png").headers["Location"]
    chunk = os.urandom(size)
    codes = []

    def go():
        codes.append(patch(tenant.owner, loc, 0, chunk).status_code)

    ts = [threading.Thread(target=go) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) in ([204, 409],), codes
    assert head(tenant.owner, loc).headers["Upload-Offset"] == str(size)


def _zip(members):
    import io
    import zipfile
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for m in members:
            z.writestr(m, os.urandom(3000))   # incompressible: the zip spans both chunks
    return b.getvalue()


@pytest.mark.parametrize("members,reason", [
    (["_rels/.rels", "word/document.xml", "[Content_Types].xml"], "type_not_accepted"),
    (["a.txt", "b.txt"], "office_invalid"),
])
def test_office_files_are_judged_by_their_zip_directory(tenant, members, reason):
    """A .docx sent in two chunks is assembled and judged by its central directory: a real one is
    a DOCX (not on the built-in list of a field without accept), a plain zip is office_invalid."""
    data = _zip(members)
    loc = create(tenant.owner, len(data), name="report.docx").headers["Location"]
    half = len(data) // 2
    assert patch(tenant.owner, loc, 0, data[:half]).status_code == 204
    r = patch(tenant.owner, loc, half, data[half:])
    assert r.status_code == 422 and reason in r.text, r.text


def test_options_cors_and_method_override(tenant):
    """OPTIONS needs no credentials and names the tus capabilities; responses expose the tus headers
    to browsers; POST with X-HTTP-Method-Override: PATCH appends like a PATCH."""
    r = requests.options(BASE + "/v1/uploads", timeout=30)
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) >= {"creation", "creation-with-upload",
                                                          "expiration", "checksum", "termination"}
    assert "sha1" in r.headers["Tus-Checksum-Algorithm"] and int(r.headers["Tus-Max-Size"]) > 0
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    c = create(tenant.owner, len(PNG))
    for h in ("Upload-Offset", "Location", "Tus-Resumable"):
        assert h in c.headers["Access-Control-Expose-Headers"]
    loc = c.headers["Location"]
    assert requests.options(BASE + loc, timeout=30).status_code == 204
    h = dict(TUS, **auth(tenant.owner), **{"Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH",
                                           "Content-Type": "application/offset+octet-stream"})
    r = requests.post(BASE + loc, headers=h, data=PNG, timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["Upload-Offset"] == str(len(PNG)) and r.headers.get("Atrium-Asset-Id")


def test_chunk_over_the_cap_is_a_json_413(tenant):
    """A PATCH body over the documented chunk cap (50 MiB) is refused by nginx from its
    Content-Length, as problem+json, and the upload does not move."""
    loc = create(tenant.owner, 60 << 20).headers["Location"]
    r = patch(tenant.owner, loc, 0, b"\0" * ((50 << 20) + 1))
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/problem+json") and r.json()["status"] == 413
    assert head(tenant.owner, loc).headers["Upload-Offset"] == "0"
