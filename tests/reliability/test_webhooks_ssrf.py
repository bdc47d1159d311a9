"""The SSRF guard end to end inside a network namespace that has only loopback: the refused
addresses exist there and a listener accepts on all of them, so a guard that let a connection
through would be seen; nothing off the machine is reachable whatever happens. Each case runs the
real lib/http_client through `atriumctl webhooks probe` (save-time check, then a real POST)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ATRIUMCTL = os.path.join(ROOT, "build", "atriumctl")

REFUSED = {
    "loopback_without_allowlist": "loopback", "metadata": "metadata", "ipv6_loopback": "loopback",
    "ipv4_mapped_loopback": "loopback", "private_10": "private", "cgnat": "CGNAT",
    "private_192_168": "private", "decimal_2130706433": "loopback", "hostname_localhost": "loopback",
}


@pytest.fixture(scope="module")
def results():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("SKIPPED: the network namespace test needs root and unshare")
    p = subprocess.run(["unshare", "--net", "--", sys.executable,
                        os.path.join(os.path.dirname(__file__), "netns_ssrf.py"), ATRIUMCTL],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_on_create_and_on_delivery(results, case):
    r = results["cases"][case]
    assert r["check"] is not None and REFUSED[case] in r["check"], r       # 422 on create
    assert r["refused"] is True and r["status"] == 0, r                     # and at connect time
    assert "SSRF guard" in r["error"] and REFUSED[case] in r["error"], r


def test_https_only_unless_allowed(results):
    r = results["cases"]["https_only"]
    assert "https" in r["check"] and r["status"] == 0 and r["error"], r


def test_redirect_to_a_private_address_is_not_followed(results):
    r = results["cases"]["redirect_to_private"]
    assert r["status"] == 302, r
    assert "10.0.0.1" not in results["hits"], results["hits"]


def test_control_allowlisted_loopback_is_delivered(results):
    """Proves the probe and the listener work, so the refusals above mean something."""
    r = results["cases"]["control_allowlisted"]
    assert r["status"] == 204 and r["check"] is None, r
    hits = [h.removeprefix("::ffff:") for h in results["hits"]]
    assert hits.count("127.0.0.1") == 2, hits        # the control and the redirect's first hop only
