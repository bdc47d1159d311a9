"""Helpers shared by the secrets, integrations and audit API tests."""
import os
import secrets
import time

# Every plaintext secret the tests use carries this marker, so that tests/api/test_zz_no_plaintext.py
# can look for all of them in the database dump, the logs, the Redis AOF and nginx's temp dirs.
CANARY = "PLAINTEXT-CANARY-"


def canary(label="x"):
    return f"{CANARY}{label}-{secrets.token_hex(8)}"


def no_secret_in(resp, *plains):
    text = resp.text
    for p in plains:
        assert p not in text, "a response carried a plaintext secret"
    assert CANARY not in text, "a response carried a plaintext secret"


def wait_runs(client, iid, pred, timeout=30):
    """Polls GET /v1/integrations/{iid}/runs until pred(items) holds; returns the items."""
    end = time.time() + timeout
    items = []
    while time.time() < end:
        r = client.get(f"/v1/integrations/{iid}/runs")
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if pred(items):
            return items
        time.sleep(0.2)
    raise AssertionError(f"runs never matched: {items}")
