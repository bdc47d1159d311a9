"""The test stack restarted on the s3 backend (ATRIUM_STORAGE=s3 scripts/stack.sh start test):
s3rver behind its SigV4 check comes up with its bucket, atrium-fcgi and the workers restart on
the new backend, an upload through nginx is stored in s3rver, a presigned GET works and an expired
one is refused, and media goes through atrium-media into s3rver and out again: downloads, DELETE,
reprocess (tests/s3check.py). The stack goes back to local storage afterwards."""
import os
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from s3check import run_s3_check, run_s3_media_check, stack_files  # noqa: E402
from stackenv import stack_env  # noqa: E402

ENV = stack_env()
SDIR = ENV["STACK_DIR"]
ROOT = ENV.get("ATRIUM_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def start_stack(storage):
    env = dict(os.environ, ATRIUM_STORAGE=storage)
    p = subprocess.run([ENV["ATRIUM_STACK"], "start", "test"], capture_output=True, text=True,
                       timeout=180, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def on_s3():
    """The stack on s3 for this module's tests; back on local afterwards (checked)."""
    if not os.path.exists(os.path.join(ROOT, "node_modules", "s3rver", "bin", "s3rver.js")):
        pytest.skip("SKIPPED: node_modules/s3rver is missing (npm ci); the s3 stack is NOT tested")
    try:
        out = start_stack("s3")
        assert "started s3rver" in out and "restarting atrium-fcgi" in out, out
        assert stack_files(SDIR)[1]["ATRIUM_STORAGE_BACKEND"] == "s3"
        yield
    finally:
        out = start_stack("local")
    assert stack_files(SDIR)[1]["ATRIUM_STORAGE_BACKEND"] == "local"
    assert "stopped s3rver" in out, out
    assert requests.get(ENV["ATRIUM_BASE_URL"] + "/v1/ping", timeout=10).status_code == 200


def test_stack_on_s3(on_s3):
    run_s3_check(SDIR)


def test_media_through_atrium_media_on_s3(on_s3):
    run_s3_media_check(SDIR)


def test_s3_secret_never_logged(on_s3):
    secret = stack_files(SDIR)[1]["ATRIUM_S3_SECRET_KEY"]
    for name in os.listdir(os.path.join(SDIR, "log")):
        with open(os.path.join(SDIR, "log", name), "rb") as f:
            assert secret.encode() not in f.read(), name
