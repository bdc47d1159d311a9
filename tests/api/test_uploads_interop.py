"""Interop: tus-js-client from npm uploads 64 MiB in 8 MiB chunks through nginx, is cut off 1 MiB
into a chunk past half-way (tests/interop/tus_resume.js proxies and destroys the socket),
resumes from the server's offset, and the stored file's SHA-256
equals the source's."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import BASE, ROOT, pg

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f80f00000101000518d84e0000000049454e44ae426082")


def test_tus_js_client_resumes_an_interrupted_upload(tenant, tmp_path, media_paused):
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(ROOT, "node_modules", "tus-js-client")):
        pytest.skip("SKIPPED: node or node_modules/tus-js-client missing; tus interop NOT tested")
    size, chunk = 64 << 20, 8 << 20
    src = tmp_path / "big.png"
    src.write_bytes(PNG + os.urandom(size - len(PNG)))
    p = subprocess.run([node, os.path.join(ROOT, "tests", "interop", "tus_resume.js"),
                        BASE + "/v1/uploads", tenant.owner.key, str(src), str(chunk)],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    # it really was cut mid-chunk past half-way, and resumed from there (the cut chunk's partial
    # body was discarded: the server's offset is the cut chunk's start), not from zero
    assert out["cutAt"] is not None and out["cutAt"] >= size // 2
    assert out["resumedFrom"] == out["cutAt"]
    assert out["resumedFrom"] % chunk == 0
    assert out["chunksAfterResume"] == (size - out["resumedFrom"]) // chunk
    with pg() as conn:
        cur = conn.cursor()
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT payload FROM jobs WHERE idempotency_key = %s", (out["asset"],))
        payload = cur.fetchone()[0]
    # the stored parts, in offset order, are the source byte for byte
    h = hashlib.sha256()
    pos = 0
    for name in sorted(os.listdir(payload["dir"])):
        assert int(name) == pos
        with open(os.path.join(payload["dir"], name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
                pos += len(block)
    assert pos == size
    assert h.hexdigest() == hashlib.sha256(src.read_bytes()).hexdigest()
