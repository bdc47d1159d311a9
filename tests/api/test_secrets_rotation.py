"""Master key rotation (DESIGN §5): `atriumctl keys rotate` adds a version and rewraps every data
key without touching secret rows; secrets written before still open afterwards, also once the old
master key is gone; `keys status` counts data keys per version; `keys retire` refuses while a
version still wraps data keys or is the newest. Processes load keys at start, so the test restarts
atrium-fcgi and the workers after each key change, as an operator would."""
import json
import os
import subprocess
import sys

from conftest import ENV, atriumctl, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import canary, wait_runs  # noqa: E402

KEYS = ENV["ATRIUM_KEYS_DIR"]


def restart():
    env = {**os.environ, "STACK_DIR": ENV["STACK_DIR"]}
    for cmd in (["stop", ENV.get("ATRIUM_PROFILE", "test"), "fcgi", "workers"],
                ["start", ENV.get("ATRIUM_PROFILE", "test")]):
        p = subprocess.run([ENV["ATRIUM_STACK"], *cmd], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr


def status():
    return json.loads(atriumctl("keys", "status").stdout)


def sealed_rows():
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT id::text, sealed FROM secrets ORDER BY id")
        return [(i, bytes(s)) for i, s in cur.fetchall()]


def opens(client, iid):
    """Runs the action: it opens the secret before sending (the send itself fails on a closed port)."""
    before = len(client.get(f"/v1/integrations/{iid}/runs").json()["items"])
    assert client.post(f"/v1/integrations/{iid}/test", {}).status_code == 202
    runs = wait_runs(client, iid, lambda items: len(items) > before)
    return "could not be decrypted" not in (runs[0]["error"] or "")


def make(client):
    r = client.post("/v1/integrations", {"type": "http", "name": "rot", "config": {
        "url": "http://127.0.0.1:9/x", "secret_headers": {"X-Key": canary("rotation")}}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_rotate_rewraps_and_old_secrets_still_open(tenant):
    old = make(tenant.owner)
    assert opens(tenant.owner, old)
    s0 = status()
    newest = s0["newest"]
    rows = sealed_rows()
    out = json.loads(atriumctl("keys", "rotate").stdout)
    assert out["newest"] == newest + 1 and out["rewrapped"] >= 1
    assert sealed_rows() == rows                       # secret rows untouched
    s1 = status()
    assert s1["data_keys_by_version"] == {str(newest + 1): sum(s0["data_keys_by_version"].values())}
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_log WHERE action = 'rotate' AND tenant_id = %s", (tenant.id,))
        assert cur.fetchone()[0] >= 1
    # refusals: the newest version, and (before rotation) a version still in use
    assert atriumctl("keys", "retire", str(newest + 1), check=False).returncode != 0
    restart()
    assert opens(tenant.owner, old)
    new = make(tenant.owner)
    assert opens(tenant.owner, new)

    # the old master key removed: everything still opens (set aside and restored, so the stack
    # keeps the 1.key the stack tests check)
    path = os.path.join(KEYS, f"{newest}.key")
    aside = path + ".aside"
    os.rename(path, aside)
    try:
        restart()
        assert str(newest) not in map(str, status()["loaded"])
        assert opens(tenant.owner, old) and opens(tenant.owner, new)
    finally:
        os.rename(aside, path)
        restart()


def test_retire_refuses_a_version_still_wrapping_data_keys(tenant):
    make(tenant.owner)
    st = status()
    for v in st["data_keys_by_version"]:
        assert atriumctl("keys", "retire", v, check=False).returncode != 0
    assert atriumctl("keys", "retire", "x", check=False).returncode == 2
    assert os.stat(os.path.join(KEYS, f"{st['newest']}.key")).st_mode & 0o777 == 0o400
