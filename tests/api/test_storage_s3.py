"""When the stack runs the s3 backend (ATRIUM_STORAGE=s3 scripts/stack.sh start test): uploads
land in s3rver under their derived key, presigned GETs work, tampered and expired ones do not.
On the default local stack this says SKIPPED; tests/reliability/test_storage_s3.py restarts the
stack on s3 and runs the same check."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from s3check import run_s3_check, stack_files  # noqa: E402
from stackenv import stack_env  # noqa: E402

SDIR = stack_env()["STACK_DIR"]


def test_uploads_land_in_s3rver():
    if stack_files(SDIR)[1].get("ATRIUM_STORAGE_BACKEND") != "s3":
        pytest.skip("SKIPPED: the stack runs the local backend (start it with ATRIUM_STORAGE=s3); "
                    "the reliability suite covers s3")
    run_s3_check(SDIR)
