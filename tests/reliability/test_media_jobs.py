"""The media.process job end to end against the test stack (PostgreSQL, Redis, clamd): each committed
fixture goes through a worker running services/media_job.c (build/tests/media_worker, started here
by hand on a queue of its own; atrium-media serves uploads), and the tests read media_results, the events and
the variant files. Jobs are enqueued with build/atriumctl, inspected as postgres."""
import json
import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from stackenv import load_env_file, stack_env  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from conftest import Tenant  # noqa: E402

ENV = stack_env()
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
DIR = ENV["STACK_DIR"]
FIX = os.path.join(ROOT, "tests", "fixtures", "media")
WORKER = os.path.join(ROOT, "build", "tests", "media_worker")
WORK = os.path.join(DIR, "media-work")
INBOX = os.path.join(DIR, "media-in")
# The decoding child's budget in these tests: exhaust.png (49 MP interlaced, 196 MB decoded)
# does not fit, every other fixture does (tests/unit/test_media_pipeline.c checks the same).
MEM_MB = "448"
MAX_ATTEMPTS = "2"
# A queue of its own: atrium-media (the uploads side) serves "media" with its own job kinds.
QUEUE = "media_test"

# fixture -> (state, reason, kind)
EXPECTED = {
    "rotated.jpg": ("ready", None, "image"),
    "iphone.heic": ("ready", None, "image"),
    "plain.png": ("ready", None, "image"),
    "animated.gif": ("ready", None, "image"),
    "still.webp": ("ready", None, "image"),
    "polyglot.jpg": ("ready", None, "image"),
    "photo12mp.jpg": ("ready", None, "image"),
    "short.mp4": ("ready", None, "video"),
    "short.mp3": ("ready", None, "audio"),
    "recorded.webm": ("ready", None, "video"),
    "doc.pdf": ("ready", None, "document"),
    "truncated.jpg": ("rejected", "corrupt", "image"),
    "bomb.png": ("rejected", "too_many_pixels", "image"),
    "script.svg": ("rejected", "unsupported_type", None),
    "eicar.com": ("rejected", "infected", None),
    "long.mp4": ("rejected", "too_long", "video"),
    "hls.mp4": ("rejected", "unsupported_type", None),
    "exhaust.png": ("rejected", "processing_failed", "image"),
}


def q(sql, *args):
    c = psycopg2.connect(host=ENV["PGHOST"], port=ENV["PGPORT"], dbname="atrium", user="postgres")
    try:
        with c, c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        c.close()


def ctl(*args):
    env = dict(os.environ)
    env.update(load_env_file(ENV["ATRIUM_ENV_FILE"]))
    env["ATRIUM_JOB_MAX_ATTEMPTS"] = MAX_ATTEMPTS
    p = subprocess.run([os.path.join(ROOT, "build", "atriumctl"), "jobs", *args], env=env,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"atriumctl jobs {args}: {p.stderr}"
    return json.loads(p.stdout)


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def api():
    """A tenant of its own with an owner key; the media jobs below run in it."""
    return Tenant()


@pytest.fixture(scope="module")
def tenant(api):
    return api.id


@pytest.fixture(scope="module")
def worker():
    if not os.access(WORKER, os.X_OK):
        pytest.fail(f"{WORKER} is missing: make units builds it")
    env = dict(os.environ)
    env.update(load_env_file(ENV["ATRIUM_ENV_FILE"]))
    env["ATRIUM_USER"] = "atrium-worker"
    env["ATRIUM_MEDIA_MEM_MB"] = MEM_MB
    env["ATRIUM_WORKER_QUEUES"] = QUEUE
    os.makedirs(WORK, exist_ok=True)
    u = pwd.getpwnam("atrium-worker")
    os.chown(WORK, u.pw_uid, u.pw_gid)
    os.makedirs(INBOX, exist_ok=True)
    os.chown(INBOX, u.pw_uid, u.pw_gid)
    log = open(os.path.join(DIR, "log", "media-test-worker.log"), "ab")
    p = subprocess.Popen([WORKER], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                         cwd=DIR, start_new_session=True)
    time.sleep(0.5)
    assert p.poll() is None, "media_worker exited at start (see log/media-test-worker.log)"
    yield p
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    log.close()


def stage(name):
    """A copy of the fixture the worker may read and delete (a rejection deletes the bytes)."""
    dst = os.path.join(INBOX, f"{uuid.uuid4()}-{name}")
    shutil.copyfile(os.path.join(FIX, name), dst)
    u = pwd.getpwnam("atrium-worker")
    os.chown(dst, u.pw_uid, u.pw_gid)
    return dst


def process(tenant, names):
    """Enqueues every fixture at once (one batch), waits for all; {name: (asset_id, job_id, path)}."""
    jobs = {}
    for name in names:
        asset, path = str(uuid.uuid4()), stage(name)
        jid = ctl("enqueue", "--tenant", tenant, "--queue", QUEUE, "--kind", "media.process",
                  "--payload", json.dumps({"asset_id": asset, "path": path}))["id"]
        jobs[name] = (asset, jid, path)

    def done():
        ids = [j for _, j, _ in jobs.values()]
        rows = q("SELECT count(*) FROM jobs WHERE id = ANY(%s::uuid[]) AND state IN ('succeeded', 'dead')", ids)
        return rows[0][0] == len(ids)
    wait_for(done, 120, "every media job to finish")
    return jobs


def result(tenant, asset):
    rows = q("SELECT state, reason, scanner, kind, mime, width, height, duration_ms, codecs, page_count,"
             " color, variants, peak_rss_kb, detail FROM media_results WHERE tenant_id = %s AND asset_id = %s",
             tenant, asset)
    assert rows, f"no media_results row for {asset}"
    keys = ["state", "reason", "scanner", "kind", "mime", "width", "height", "duration_ms", "codecs",
            "page_count", "color", "variants", "peak_rss_kb", "detail"]
    return dict(zip(keys, rows[0]))


@pytest.fixture(scope="module")
def batch(tenant, worker):
    return process(tenant, list(EXPECTED))


def variant_file(job_id, v):
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}[v["mime"]]
    return os.path.join(WORK, job_id, f"{v['name']}.{ext}")


def test_every_fixture_reaches_its_final_state(tenant, batch):
    """One batch: the crashing/exhausting fixture is rejected, every other one as expected."""
    got = {}
    for name, (asset, _, _) in batch.items():
        r = result(tenant, asset)
        got[name] = (r["state"], r["reason"], r["kind"])
    assert got == EXPECTED


def test_scanner_recorded_and_infected_bytes_deleted(tenant, batch):
    for name, (asset, _, path) in batch.items():
        r = result(tenant, asset)
        assert r["scanner"] == "clamd", name
        if r["state"] == "rejected":
            assert not os.path.exists(path), f"{name}: rejected bytes still on disk"
        else:
            assert os.path.exists(path), name
    r = result(tenant, batch["eicar.com"][0])
    assert "EICAR" in r["detail"]


def test_events_announce_each_outcome(tenant, batch):
    for name, (asset, _, _) in batch.items():
        rows = q("SELECT type, payload FROM events WHERE tenant_id = %s AND payload->>'asset_id' = %s", tenant, asset)
        want = "media.ready" if EXPECTED[name][0] == "ready" else "media.rejected"
        assert [r[0] for r in rows] == [want], name
        assert rows[0][1]["state"] == EXPECTED[name][0]
        assert rows[0][1].get("reason") == EXPECTED[name][1]


def test_exhausting_fixture_was_retried_before_rejection(tenant, batch):
    _, jid, _ = batch["exhaust.png"]
    n = q("SELECT count(*) FROM job_attempts WHERE job_id = %s", jid)[0][0]
    assert n == int(MAX_ATTEMPTS)


def test_no_partial_variants_left_for_rejected_assets(batch):
    for name, (_, jid, _) in batch.items():
        kept = os.path.isdir(os.path.join(WORK, jid))
        assert kept == (EXPECTED[name][0] == "ready"), name


def test_variant_dimensions_and_preview_metadata(tenant, batch):
    r = result(tenant, batch["photo12mp.jpg"][0])
    dims = {v["name"]: (v["width"], v["height"]) for v in r["variants"]}
    assert dims == {"original": (4000, 3000), "preview": (1280, 960), "thumb": (256, 192)}
    assert (r["width"], r["height"]) == (4000, 3000)
    assert r["color"].startswith("#") and len(r["color"]) == 7
    r = result(tenant, batch["short.mp4"][0])
    assert (r["width"], r["height"], r["codecs"]) == (320, 240, "h264,aac")
    assert 1500 <= r["duration_ms"] <= 2500
    assert [(v["name"], v["width"], v["height"]) for v in r["variants"]] == [("thumb", 256, 192)]
    r = result(tenant, batch["short.mp3"][0])
    assert r["kind"] == "audio" and r["codecs"] == "mp3" and r["variants"] == []
    assert result(tenant, batch["doc.pdf"][0])["page_count"] == 2


def test_gps_gone_from_every_stored_variant(tenant, batch):
    checked = 0
    for name in ("rotated.jpg", "iphone.heic", "polyglot.jpg"):
        asset, jid, _ = batch[name]
        for v in result(tenant, asset)["variants"]:
            data = open(variant_file(jid, v), "rb").read()
            assert b"Exif\x00\x00" not in data, f"{name} {v['name']}: EXIF left"
            assert b"iPhone" not in data and b"GPS" not in data, f"{name} {v['name']}"
            checked += 1
    assert checked == 9


def test_heic_is_an_upright_jpeg(tenant, batch):
    """iphone.heic stores 512x384 with irot 270 (90 clockwise): displayed 384x512, and the pixel
    that testsrc2 puts at the stored bottom-left (red) is at the top-left."""
    asset, jid, _ = batch["iphone.heic"]
    r = result(tenant, asset)
    orig = [v for v in r["variants"] if v["name"] == "original"][0]
    assert orig["mime"] == "image/jpeg" and (orig["width"], orig["height"]) == (384, 512)
    path = variant_file(jid, orig)
    assert open(path, "rb").read(3) == b"\xff\xd8\xff"
    px = subprocess.run(["vips", "getpoint", path, "5", "5"], capture_output=True, text=True).stdout.split()
    red, green, blue = (float(x) for x in px[:3])
    assert red > 200 and green < 60 and blue < 60, px


def photo_like_12mp(dst):
    """A 4000x3000 JPEG with a photo's entropy (blurred colour noise, about 3 MB at Q85)."""
    d = os.path.dirname(dst)
    for b in "123":
        subprocess.run(["vips", "gaussnoise", f"{d}/n{b}.v", "4000", "3000", "--sigma", "30",
                        "--mean", "128"], check=True)
    steps = [["vips", "bandjoin", f"{d}/n1.v {d}/n2.v {d}/n3.v", f"{d}/rgb.v"],
             ["vips", "cast", f"{d}/rgb.v", f"{d}/u.v", "uchar"],
             ["vips", "copy", f"{d}/u.v", f"{d}/c.v", "--interpretation", "srgb"],
             ["vips", "gaussblur", f"{d}/c.v", f"{d}/b.v", "0.7"],
             ["vips", "cast", f"{d}/b.v", f"{d}/bu.v", "uchar"],
             ["vips", "jpegsave", f"{d}/bu.v", dst, "--Q", "85"]]
    for cmd in steps:
        subprocess.run(cmd, check=True)
    for f in os.listdir(d):
        if f.endswith(".v"):
            os.unlink(os.path.join(d, f))


def with_orientation(src, dst, orientation):
    """dst: the JPEG src with an EXIF block holding only Orientation (as a phone writes a photo
    taken sideways: the pixels as the sensor saw them, the tag saying how to turn them)."""
    jpeg = open(src, "rb").read()
    assert jpeg[:2] == b"\xff\xd8"
    tiff = (b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
            + struct.pack(">I", 0))
    app1 = b"Exif\x00\x00" + tiff
    open(dst, "wb").write(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    out = subprocess.run(["vipsheader", "-f", "orientation", dst], capture_output=True, text=True)
    assert out.stdout.strip() == str(orientation), out


def enqueue_file(tenant, src, name):
    asset = str(uuid.uuid4())
    staged = os.path.join(INBOX, f"{asset}-{name}")
    shutil.copyfile(src, staged)
    u = pwd.getpwnam("atrium-worker")
    os.chown(staged, u.pw_uid, u.pw_gid)
    jid = ctl("enqueue", "--tenant", tenant, "--queue", QUEUE, "--kind", "media.process",
              "--payload", json.dumps({"asset_id": asset, "path": staged}))["id"]
    return asset, jid


def mean_abs_diff(a, b, d):
    """mean |a - b| over two images of one size, by libvips' command line"""
    subprocess.run(["vips", "subtract", a, b, f"{d}/diff.v"], check=True)
    subprocess.run(["vips", "abs", f"{d}/diff.v", f"{d}/abs.v"], check=True)
    return float(subprocess.run(["vips", "avg", f"{d}/abs.v"], check=True, capture_output=True,
                                text=True).stdout)


@pytest.fixture(scope="module")
def rotated(tenant, worker, tmp_path_factory):
    """The committed 12 MP JPEG and a photo-like one, tagged with the orientations phones write
    (6 and 8: held sideways; 3: upside down), through the worker in one batch: {name: (asset,
    job, source path)}."""
    d = tmp_path_factory.mktemp("rotated")
    photo_like_12mp(str(d / "photo.jpg"))
    files = {}
    for o in (3, 6, 8):
        with_orientation(os.path.join(FIX, "photo12mp.jpg"), str(d / f"photo12mp-o{o}.jpg"), o)
        files[f"photo12mp-o{o}.jpg"] = str(d / f"photo12mp-o{o}.jpg")
    with_orientation(str(d / "photo.jpg"), str(d / "photo-like-o6.jpg"), 6)
    files["photo-like.jpg"] = str(d / "photo.jpg")
    files["photo-like-o6.jpg"] = str(d / "photo-like-o6.jpg")
    jobs = {name: (*enqueue_file(tenant, path, name), path) for name, path in files.items()}
    wait_for(lambda: all(q("SELECT state FROM jobs WHERE id = %s", j)[0][0] in ("succeeded", "dead")
                         for _, j, _ in jobs.values()), 120, "the rotated photos")
    return jobs


def test_decoding_child_peak_rss_within_1_5x_vipsthumbnail(tenant, batch, rotated, tmp_path):
    """Peak RSS of the decoding child (wait4 in the worker) against vipsthumbnail's (wait4 rusage
    through /usr/bin/time) on the same file, measured in this test: the bomb (refused from its
    header), the committed 12 MP JPEG, a photo-like 12 MP JPEG made here, and both tagged with
    EXIF orientations (a rotation needs pixels from other rows than the one being written)."""
    cases = [(batch[n][0], os.path.join(FIX, n)) for n in ("photo12mp.jpg", "bomb.png")]
    cases += [(asset, path) for asset, _, path in rotated.values()]
    for asset_id, path in cases:
        name = os.path.basename(path)
        r = result(tenant, asset_id)
        assert r["state"] == "ready" or name == "bomb.png", (name, r["state"], r["detail"])
        ours = r["peak_rss_kb"]
        theirs = subprocess.run(["/usr/bin/time", "-f", "%M", "vipsthumbnail", "-s", "256", "-o",
                                 str(tmp_path / "t.jpg"), path],
                                capture_output=True, text=True).stderr.strip().splitlines()[-1]
        print(f"{name}: decoding child {ours} kB, vipsthumbnail {theirs} kB")
        assert ours <= 1.5 * int(theirs), f"{name}: {ours} kB > 1.5 x {theirs} kB"


def test_rotated_photos_are_stored_upright(tenant, rotated, tmp_path):
    """Every stored variant of a rotated photo is upright: the sides swapped against the stored
    pixels for orientations 6 and 8, and each variant close to libvips' own oriented thumbnail of
    the file (and far from the unrotated one) — the original and preview compared at thumb size."""
    for name, (asset, jid, path) in rotated.items():
        o = int(name.split("-o")[1].split(".")[0]) if "-o" in name else 1
        r = result(tenant, asset)
        assert r["state"] == "ready", (name, r["detail"])
        dims = {v["name"]: (v["width"], v["height"]) for v in r["variants"]}
        want = {"original": (4000, 3000), "preview": (1280, 960), "thumb": (256, 192)}
        if o in (6, 8):
            want = {k: (h, w) for k, (w, h) in want.items()}
        assert dims == want, name
        assert (r["width"], r["height"]) == want["original"], name
        ref, turned = str(tmp_path / "ref.v"), str(tmp_path / "turned.v")
        subprocess.run(["vips", "thumbnail", path, ref, "256"], check=True)
        # the wrong way round (3 not applied, or 6 taken for 8): the upright thumbnail upside down
        subprocess.run(["vips", "rot", ref, turned, "d180"], check=True)
        for v in r["variants"]:
            small = str(tmp_path / f"{v['name']}.v")
            subprocess.run(["vips", "thumbnail", variant_file(jid, v), small, "256"], check=True)
            good = mean_abs_diff(small, ref, tmp_path)
            print(f"{name} {v['name']}: mean |ours - vips thumbnail| = {good:.2f}")
            assert good < 6.0, f"{name} {v['name']}: {good:.2f} from the upright thumbnail"
            if name.startswith("photo12mp"):      # (the photo-like noise looks alike any way up)
                bad = mean_abs_diff(small, turned, tmp_path)
                assert bad > 4 * good + 8, f"{name} {v['name']}: as close to it upside down ({bad:.2f})"


def test_reprocessing_rewrites_the_record(tenant, worker):
    jobs = process(tenant, ["plain.png"])
    asset, _, path = jobs["plain.png"]
    ctl("enqueue", "--tenant", tenant, "--queue", QUEUE, "--kind", "media.process",
        "--payload", json.dumps({"asset_id": asset, "path": path}))
    wait_for(lambda: q("SELECT runs FROM media_results WHERE asset_id = %s", asset)[0][0] == 2, 60,
             "the second run")
    assert result(tenant, asset)["state"] == "ready"


def test_reprocess_through_the_api(tenant, api, batch):
    asset = batch["still.webp"][0]
    r = api.owner.post(f"/v1/media/{asset}/reprocess")
    assert r.status_code == 202, r.text
    assert r.json()["asset_id"] == asset and r.json()["state"] == "processing"
    job = r.json()["job_id"]
    wait_for(lambda: q("SELECT state FROM jobs WHERE id = %s", job)[0][0] == "succeeded", 60, "reprocessing")
    assert result(tenant, asset)["state"] == "ready"
    rows = q("SELECT count(*) FROM events WHERE tenant_id = %s AND type = 'media.ready'"
             " AND payload->>'asset_id' = %s", tenant, asset)
    assert rows[0][0] == 2


def test_reprocess_refusals(tenant, api, batch):
    # rejected: the bytes are gone
    r = api.owner.post(f"/v1/media/{batch['eicar.com'][0]}/reprocess")
    assert r.status_code == 409 and r.headers["Content-Type"].startswith("application/problem+json")
    # unknown, and another tenant's asset: 404 alike
    assert api.owner.post(f"/v1/media/{uuid.uuid4()}/reprocess").status_code == 404
    other = Tenant()
    assert other.owner.post(f"/v1/media/{batch['plain.png'][0]}/reprocess").status_code == 404
    # a viewer may not; no credentials at all: 401
    assert api.as_role("viewer").post(f"/v1/media/{batch['plain.png'][0]}/reprocess").status_code == 403
    assert requests.post(ENV["ATRIUM_BASE_URL"] + f"/v1/media/{batch['plain.png'][0]}/reprocess",
                         timeout=10).status_code == 401
    assert api.owner.post("/v1/media/not-a-uuid/reprocess").status_code == 404


@pytest.fixture
def small_clamd(tmp_path):
    """A clamd of this test's own with tiny limits, to see what a real clamd says past them."""
    d = tmp_path / "clamd"
    (d / "db").mkdir(parents=True)
    eicar = open(os.path.join(FIX, "eicar.com"), "rb").read()
    (d / "db" / "t.ndb").write_text("T.EICAR:0:*:" + eicar[-48:-10].hex() + "\n")
    sock = d / "clamd.sock"

    def start(stream_max, file_max):
        conf = d / f"clamd-{stream_max}-{file_max}.conf"
        conf.write_text(f"DatabaseDirectory {d}/db\nLocalSocket {sock}\nPidFile {d}/clamd.pid\n"
                        f"LogFile {d}/clamd.log\nForeground no\nStreamMaxLength {stream_max}\n"
                        f"MaxFileSize {file_max}\nMaxScanSize 10M\nAlertExceedsMax yes\n")
        subprocess.run(["clamd", f"--config-file={conf}"], check=True, timeout=30)
        wait_for(lambda: sock.exists(), 10, "the test clamd")
        return str(sock)

    def stop():
        if (d / "clamd.pid").exists():
            pid = int((d / "clamd.pid").read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not sock.exists(), 10, "the test clamd to stop")

    start.stop = stop
    yield start
    stop()


def run_pipeline(tmp_path, clamd_sock, name):
    env = dict(os.environ, ATRIUM_CLAMD_SOCKET=clamd_sock)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    p = subprocess.run([os.path.join(ROOT, "build", "tests", "media_run"), str(out),
                        os.path.join(FIX, name)], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[0])


def test_over_clamd_limits_is_never_clean(small_clamd, tmp_path):
    """photo12mp.jpg is 261 kB: over StreamMaxLength clamd refuses the stream, over MaxFileSize
    AlertExceedsMax reports Heuristics.Limits.Exceeded; both reject, neither passes as clean."""
    sock = small_clamd("100K", "100K")
    r = run_pipeline(tmp_path, sock, "photo12mp.jpg")
    assert (r["state"], r["reason"], r["scanner"]) == ("rejected", "scan_limit_exceeded", "clamd"), r
    small_clamd.stop()
    sock = small_clamd("10M", "100K")
    r = run_pipeline(tmp_path, sock, "photo12mp.jpg")
    assert (r["state"], r["reason"]) == ("rejected", "scan_limit_exceeded"), r
    assert "limits" in r["detail"]
    log = open(tmp_path / "clamd" / "clamd.log").read()
    assert "Heuristics.Limits.Exceeded" in log, log[-500:]
    # within the limits the same file is clean and processed; EICAR is found
    assert run_pipeline(tmp_path, sock, "plain.png")["state"] == "ready"
    r = run_pipeline(tmp_path, sock, "eicar.com")
    assert (r["state"], r["reason"]) == ("rejected", "infected"), r


def test_media_events_fan_out_to_subscribed_webhooks(worker):
    """media.ready and media.rejected are in the webhook catalogue: an endpoint subscribed to
    them gets one delivery job per processed asset, created with the event."""
    t = Tenant()
    r = t.owner.post("/v1/webhooks/endpoints", {"url": "http://127.0.0.1:9/media",
                                                "event_types": ["media.ready", "media.rejected"]})
    assert r.status_code == 201, r.text
    jobs = process(t.id, ["plain.png", "script.svg"])
    assert {n: result(t.id, a)["state"] for n, (a, _, _) in jobs.items()} == \
        {"plain.png": "ready", "script.svg": "rejected"}
    n = q("SELECT count(*) FROM jobs WHERE tenant_id = %s AND queue = 'webhooks'", t.id)[0][0]
    assert n == 2


def test_storage_hooks_put_variants_under_derived_keys(tmp_path):
    """media_job_storage_hooks over the local StorageAdapter: a ready asset's variants end up at
    t/<tenant>/media/<asset>/<variant> (moved out of the work directory), a rejected asset leaves
    nothing in storage and its input is deleted, and media_assets gets each final state."""
    t = Tenant()
    store = os.path.join(DIR, "media-store-test")
    os.makedirs(store, exist_ok=True)
    u = pwd.getpwnam("atrium-worker")
    os.chown(store, u.pw_uid, u.pw_gid)
    env = dict(os.environ)
    env.update(load_env_file(ENV["ATRIUM_ENV_FILE"]))
    env.update(ATRIUM_USER="atrium-worker", ATRIUM_WORKER_QUEUES="media_store", MEDIA_TEST_STORAGE="1",
               ATRIUM_STORAGE_BACKEND="local", ATRIUM_STORAGE_DIR=store)
    log = open(os.path.join(DIR, "log", "media-test-store-worker.log"), "ab")
    p = subprocess.Popen([WORKER], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=DIR,
                         start_new_session=True)
    try:
        time.sleep(0.5)
        assert p.poll() is None, "the storage worker exited at start"
        ids = {}
        for name in ("rotated.jpg", "truncated.jpg"):
            asset, path = str(uuid.uuid4()), stage(name)
            q("INSERT INTO media_assets (tenant_id, id, filename, mime, kind, size) VALUES"
              " (%s, %s, %s, 'image/jpeg', 'image', 1)", t.id, asset, name)
            jid = ctl("enqueue", "--tenant", t.id, "--queue", "media_store", "--kind", "media.process",
                      "--payload", json.dumps({"asset_id": asset, "path": path}))["id"]
            ids[name] = (asset, jid, path)
        wait_for(lambda: all(q("SELECT state FROM jobs WHERE id = %s", j)[0][0] == "succeeded"
                             for _, j, _ in ids.values()), 60, "the storage jobs")
        asset, jid, _ = ids["rotated.jpg"]
        base = os.path.join(store, "t", t.id, "media", asset)
        assert sorted(os.listdir(base)) == ["original", "preview", "thumb"]
        assert open(os.path.join(base, "original"), "rb").read(3) == b"\xff\xd8\xff"
        assert not os.path.exists(os.path.join(WORK, jid)), "work directory left behind"
        asset, jid, path = ids["truncated.jpg"]
        assert not os.path.exists(os.path.join(store, "t", t.id, "media", asset))
        assert not os.path.exists(path)
        states = dict(q("SELECT filename, state || ':' || coalesce(reason, '') FROM media_assets"
                        " WHERE tenant_id = %s", t.id))
        assert states == {"rotated.jpg": "ready:", "truncated.jpg": "rejected:corrupt"}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        log.close()
