"""The end user's upload page (web/upload.html) in the system Chromium, driven by playwright-core
(tests/browser/upload_page.js), through the real nginx and the test stack: a published flow's
file fields with their rules, a ~20 MiB file sent in 8 MiB tus chunks with progress through
intermediate values to 100 %, the stored asset's bytes equal to the file's (downloaded as the
creator once atrium-media made it ready), pause/resume, a dropped connection and a reload resumed
from the server's offset, the server's reasons for a rejected type (422), an over-limit file
(413, before any byte is sent) and a used-up session (429 with the wait), and no CSP violation,
console error or script error on the page."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from conftest import BASE, ROOT, Tenant  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
DRIVER = os.path.join(os.path.dirname(__file__), "upload_page.js")
CHUNK = 8 << 20
MIB = 1 << 20
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
              "frame-ancestors 'none'")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")
FLOW = {
    "name": "Browser upload test",
    "uploads": {"max_files": 10, "max_total_bytes": 200 * MIB},
    "steps": [{"key": "files", "fields": [
        {"key": "doc", "label": "Your document", "type": "file", "accept": ["application/pdf"],
         "max_size": 32 * MIB},
        {"key": "photo", "label": "Photo", "type": "file", "accept": ["image/png"], "max_size": MIB},
    ]}],
}


def _missing():
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (scripts/deps.sh installs chromium)"
    if not NODE:
        return "node is missing"
    if not os.path.isdir(os.path.join(ROOT, "node_modules", "playwright-core")):
        return "node_modules/playwright-core is missing (npm ci)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None,
                                reason=f"SKIPPED: {_missing()}; the upload page is NOT tested")


@pytest.fixture(scope="module")
def tenant():
    return Tenant()


@pytest.fixture(scope="module")
def flow(tenant):
    r = tenant.owner.post("/v1/flows", FLOW)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    r = tenant.owner.post(f"/v1/flows/{fid}/publish")
    assert r.status_code == 200, r.text
    return fid


def page_url(fid):
    return f"{BASE}/upload.html?flow={fid}"


def pdf(size):
    """A well-formed one-page PDF of exactly `size` bytes: random bytes in an unfiltered stream."""
    head = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
            b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n")
    tail = b"\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    n = size - len(head) - len(tail) - 64
    body = head + b"4 0 obj << /Length %d >> stream\n" % n + os.urandom(n) + tail
    pad = size - len(body)
    assert pad >= 2
    return body + b"%" + b" " * (pad - 2) + b"\n"


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def drive(**opts):
    """Runs the driver; returns what it printed. A failure of the driver itself fails the test."""
    p = subprocess.run([NODE, DRIVER, json.dumps(opts)], capture_output=True, text=True,
                       timeout=300, cwd=ROOT, env=dict(os.environ, CHROMIUM=CHROMIUM))
    lines = p.stdout.strip().splitlines()
    assert lines, f"the driver printed nothing (exit {p.returncode}): {p.stderr[-2000:]}"
    out = json.loads(lines[-1])
    assert p.returncode == 0 and "fatal" not in out, out.get("fatal", p.stderr[-2000:])
    return out


def assert_clean(out):
    """No CSP violation, console error or uncaught script error on the page."""
    assert out["csp"] == [], out["csp"]
    # Chromium logs every failed request ("Failed to load resource: ...") as a console error:
    # the 4xx answers and the dropped connections the tests provoke. Anything else fails.
    assert all(e.startswith("Failed to load resource:") for e in out["consoleErrors"]), \
        out["consoleErrors"]
    assert out["pageErrors"] == [], out["pageErrors"]


def calls(out, method, path_prefix="/v1/public/uploads"):
    return [r for r in out["requests"] if r["method"] == method and r["path"].startswith(path_prefix)]


def wait_ready(client, asset, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        a = client.get(f"/v1/media/{asset}").json()
        if a["state"] in ("ready", "rejected"):
            return a
        time.sleep(0.1)
    raise AssertionError(f"asset {asset} not processed after {timeout} s: {a}")


def assert_stored(tenant, asset, data):
    """The asset atrium-media stored is, byte for byte, the file the page sent (as the creator
    sees it: ready, then downloaded through its signed URL)."""
    a = wait_ready(tenant.owner, asset)
    assert a["state"] == "ready", a
    r = tenant.owner.post(f"/v1/media/{asset}/download-url", {"variant": "original"})
    assert r.status_code == 200, r.text
    got = requests.get(r.json()["url"], timeout=60)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()


def assert_problem_shown(out, status, method):
    """The page shows the server's detail of the problem it got, word for word."""
    probs = [p for p in out["problems"] if p["status"] == status and p["method"] == method]
    assert probs, out["problems"]
    detail = json.loads(probs[-1]["body"])["detail"]
    assert out["state"] == "error" and out["error"] and detail in out["error"], (detail, out["error"])
    return probs[-1], detail


# -- the page itself ---------------------------------------------------------------------------

def test_page_and_vendor_files_are_served_under_the_strict_csp():
    r = requests.get(BASE + "/upload.html", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Security-Policy"] == STRICT_CSP
    assert "<script>" not in r.text and "style=" not in r.text and "<style" not in r.text
    for path, ctype in (("/upload.js", "javascript"), ("/upload.css", "text/css"),
                        ("/vendor/tus.min.js", "javascript")):
        r = requests.get(BASE + path, timeout=10)
        assert r.status_code == 200 and ctype in r.headers["Content-Type"], (path, r.headers)
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    with open(os.path.join(ROOT, "node_modules", "tus-js-client", "dist", "tus.min.js"), "rb") as f:
        assert requests.get(BASE + "/vendor/tus.min.js", timeout=10).content == f.read()
    # only the mapped file: nothing else of node_modules is reachable
    for path in ("/vendor/tus.js", "/vendor/tus-js-client/package.json", "/vendor/../package.json",
                 "/vendor/playwright-core/package.json", "/node_modules/tus-js-client/package.json"):
        assert requests.get(BASE + path, timeout=10).status_code == 404, path


def test_page_lists_the_fields_and_refuses_inline_script(flow):
    out = drive(url=page_url(flow), mode="open", field="doc", cspControl=True)
    assert_clean(out)
    assert out["title"] == FLOW["name"] and out["pageError"] is None
    assert out["accept"] == "application/pdf"
    assert "pdf" in out["rules"] and "32.0 MiB" in out["rules"], out["rules"]
    # the control: an inline script added to the page is blocked, and the listener reports it,
    # so the empty list above means something
    assert out["controlCsp"]["ran"] is False
    assert any(v["directive"].startswith("script-src") for v in out["controlCsp"]["csp"]), out["controlCsp"]


def test_page_without_a_published_flow_says_so(tenant):
    out = drive(url=BASE + "/upload.html", mode="open")
    assert "published flow" in out["pageError"], out
    r = tenant.owner.post("/v1/flows", dict(FLOW, name="never published"))
    assert r.status_code == 201
    out = drive(url=page_url(r.json()["id"]), mode="open")
    assert_clean(out)
    assert out["pageError"] == "no published flow with this id", out["pageError"]


# -- uploads -----------------------------------------------------------------------------------

def test_large_file_goes_in_chunks_with_progress_and_arrives_intact(tenant, flow, tmp_path):
    data = pdf(20 * MIB)
    out = drive(url=page_url(flow), mode="upload", field="doc", file=write(tmp_path, "report.pdf", data))
    assert_clean(out)
    assert out["state"] == "done", (out["error"], out["problems"])
    # one creation without a body, then 8 MiB PATCHes
    posts = calls(out, "POST")
    assert len(posts) == 1 and posts[0]["length"] == str(len(data)) and posts[0]["body"] == 0, posts
    assert [int(r["offset"]) for r in calls(out, "PATCH")] == [0, CHUNK, 2 * CHUNK]
    # progress events: never backwards, through values strictly between 0 and the end, to 100 %
    sent = [p["sent"] for p in out["progress"]]
    assert sent == sorted(sent) and sent[-1] == len(data), sent
    assert all(p["total"] == len(data) and p["bar"] == p["sent"] for p in out["progress"])
    assert len({s for s in sent if 0 < s < len(data)}) >= 2, sent
    assert out["bar"] == {"value": len(data), "max": len(data)}
    assert out["bytesText"].endswith("(100 %)"), out["bytesText"]
    # the asset id from Atrium-Asset-Id is shown, and its stored bytes are the file's
    assert out["asset"] and out["asset"] in out["status"], out["status"]
    assert_stored(tenant, out["asset"], data)


def test_pause_resume_and_a_dropped_connection_resume_from_the_server_offset(tenant, flow, tmp_path):
    data = pdf(20 * MIB)
    out = drive(url=page_url(flow), mode="interrupt", field="doc", chunk=CHUNK,
                file=write(tmp_path, "paused.pdf", data))
    assert_clean(out)
    assert out["pausedState"] == "paused" and out["resumeVisible"], out
    assert out["state"] == "done", (out["error"], out["problems"])
    # Resume asked the server where it was (HEAD: the first chunk), the dropped third chunk was
    # retried by itself after another HEAD; one upload throughout, never started again
    heads = [e for e in out["events"] if e["method"] == "HEAD"]
    assert [int(h["offset"]) for h in heads] == [CHUNK, 2 * CHUNK], out["events"]
    assert out["dropped"] == 2 * CHUNK
    assert len(calls(out, "POST")) == 1
    assert_stored(tenant, out["asset"], data)


def test_reload_resumes_from_the_fingerprint_in_local_storage(tenant, flow, tmp_path):
    data = pdf(17 * MIB)
    out = drive(url=page_url(flow), mode="reload", field="doc", chunk=CHUNK,
                file=write(tmp_path, "reloaded.pdf", data))
    assert_clean(out)
    assert any(k.startswith("tus::atrium/") for k in out["storedBeforeReload"]), out["storedBeforeReload"]
    assert out["state"] == "done", (out["error"], out["problems"])
    # after the reload: the same session and upload (no new session, no new creation), resumed
    # at the first chunk's end; the finished upload's entry is gone from localStorage
    assert len(calls(out, "POST")) == 1
    assert len(calls(out, "POST", "/v1/public/flows/")) == 1
    heads = [e for e in out["events"] if e["method"] == "HEAD"]
    assert [int(h["offset"]) for h in heads] == [CHUNK], out["events"]
    assert not any(k.startswith("tus::") for k in out["localStorage"]), out["localStorage"]
    assert_stored(tenant, out["asset"], data)


def test_rejected_type_shows_the_servers_reason(flow, tmp_path):
    out = drive(url=page_url(flow), mode="upload", field="doc", file=write(tmp_path, "photo.png", PNG))
    assert_clean(out)
    prob, detail = assert_problem_shown(out, 422, "PATCH")
    assert "type_not_accepted" in detail, detail
    assert out["asset"] is None and "complete" not in out["status"]


def test_over_limit_file_shows_the_413_before_any_byte_is_sent(flow, tmp_path):
    big = PNG + os.urandom(2 * MIB)
    out = drive(url=page_url(flow), mode="upload", field="photo", file=write(tmp_path, "big.png", big))
    assert_clean(out)
    prob, detail = assert_problem_shown(out, 413, "POST")
    assert str(MIB) in detail, detail
    # the creation carried no body, and nothing else was sent
    assert calls(out, "PATCH") == [] and [r["body"] for r in calls(out, "POST")] == [0]


def test_used_up_session_shows_the_429_and_the_wait(flow, tmp_path):
    # the session's creations per minute are counted per minute of the clock: start early in one
    if time.time() % 60 > 30:
        time.sleep(60 - time.time() % 60 + 0.5)
    r = requests.post(f"{BASE}/v1/public/flows/{flow}/sessions", timeout=10)
    assert r.status_code == 201, r.text
    session = r.json()
    h = {"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + session["token"],
         "Upload-Length": "10", "Upload-Metadata": "filename cC5wbmc=,field cGhvdG8="}
    for _ in range(200):
        r = requests.post(BASE + "/v1/public/uploads", headers=h, timeout=10)
        if r.status_code == 429 and "session may start" in r.text:
            break
        if r.status_code == 429:   # nginx's per-address limit, not the session's: wait it out
            time.sleep(int(r.headers.get("Retry-After", "1")))
    assert r.status_code == 429, r.text
    out = drive(url=page_url(flow), mode="upload", field="photo", flow=flow, session=session,
                file=write(tmp_path, "late.png", PNG))
    assert_clean(out)
    prob, detail = assert_problem_shown(out, 429, "POST")
    assert "session may start" in detail
    wait = int(prob["retryAfter"])
    assert f"(wait {wait} s)" in out["error"], out["error"]
    assert calls(out, "POST", "/v1/public/flows/") == []   # the stored session was used
