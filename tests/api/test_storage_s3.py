"""When the stack runs the s3 backend (ATRIUM_STORAGE=s3 scripts/stack.sh start test): uploads
land in s3rver under their derived key, presigned GETs work, tampered and expired ones do not.
On the default local stack this says SKIPPED; tests/reliability/test_storage_s3.py restarts the
stack on s3 and runs the same check."""
import json
import os
import sys
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from s3check import ctl, run_s3_check, run_s3_media_check, stack_files  # noqa: E402
from stackenv import stack_env  # noqa: E402

SDIR = stack_env()["STACK_DIR"]


def test_uploads_land_in_s3rver():
    if stack_files(SDIR)[1].get("ATRIUM_STORAGE_BACKEND") != "s3":
        pytest.skip("SKIPPED: the stack runs the local backend (start it with ATRIUM_STORAGE=s3); "
                    "the reliability suite covers s3")
    run_s3_check(SDIR)


def test_media_through_atrium_media_on_s3():
    if stack_files(SDIR)[1].get("ATRIUM_STORAGE_BACKEND") != "s3":
        pytest.skip("SKIPPED: the stack runs the local backend (start it with ATRIUM_STORAGE=s3); "
                    "the reliability suite covers s3")
    run_s3_media_check(SDIR)


def test_atriumctl_storage_on_the_local_backend(tmp_path):
    """atriumctl storage drives whichever backend the stack runs; on local: the file lands under
    ATRIUM_STORAGE_DIR at its derived key, stat sees it, presign is refused (nginx serves local
    objects), delete removes it, and a key from anything but UUIDs is a usage error."""
    aenv = stack_files(SDIR)[1]
    if aenv.get("ATRIUM_STORAGE_BACKEND", "local") != "local":
        pytest.skip("SKIPPED: the stack runs s3 (test_uploads_land_in_s3rver covers it)")
    t, a = str(uuid.uuid4()), str(uuid.uuid4())
    src = tmp_path / "f.bin"
    src.write_bytes(b"atrium" * 100)
    p = ctl(SDIR, "storage", "put", t, a, "original", str(src))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out == {"backend": "local", "key": f"t/{t}/media/{a}/original", "size": 600}
    with open(os.path.join(aenv["ATRIUM_STORAGE_DIR"], out["key"]), "rb") as f:
        assert f.read() == b"atrium" * 100
    assert src.exists()                                   # put copies; the source stays
    assert json.loads(ctl(SDIR, "storage", "stat", t, a, "original").stdout)["size"] == 600
    assert ctl(SDIR, "storage", "presign", t, a, "original", "60").returncode == 1
    assert ctl(SDIR, "storage", "delete", t, a, "original").returncode == 0
    assert ctl(SDIR, "storage", "stat", t, a, "original").returncode == 1
    assert ctl(SDIR, "storage", "put", "../x", a, "original", str(src)).returncode == 2
    assert ctl(SDIR, "storage", "put", t, a, "../../etc", str(src)).returncode == 2
