"""SecretsService against the real stack: a ciphertext copied into another row, field or tenant
fails to open (the AAD binds it), the run reports a clear error without plaintext, and the failed
decrypt is audited and logged without the value."""
import os
import sys

from conftest import ENV, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import CANARY, canary, no_secret_in, wait_runs  # noqa: E402


def make(client, headers):
    body = {"type": "http", "name": "s", "config": {"url": "http://127.0.0.1:9/x",
                                                     "secret_headers": headers}}
    r = client.post("/v1/integrations", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def sealed(iid, field):
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT id::text, sealed FROM secrets WHERE owner_id = %s AND field = %s", (iid, field))
        return cur.fetchone()


def overwrite(ref, value):
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("UPDATE secrets SET sealed = %s WHERE id = %s", (value, ref))


def decrypt_failure(client, iid):
    r = client.post(f"/v1/integrations/{iid}/test", {})
    assert r.status_code == 202, r.text
    runs = wait_runs(client, iid, lambda items: len(items) >= 1)
    return runs[-1]


def audit_actions(client):
    r = client.get("/v1/audit-log?limit=200")
    assert r.status_code == 200
    return r.json()["items"]


def test_ciphertext_copied_to_another_row_fails_to_decrypt(tenant):
    a_plain, b_plain = canary("rowA"), canary("rowB")
    a = make(tenant.owner, {"X-Key": a_plain})
    b = make(tenant.owner, {"X-Key": b_plain})
    _, a_sealed = sealed(a, "secret_headers.X-Key")
    b_ref, _ = sealed(b, "secret_headers.X-Key")
    overwrite(b_ref, a_sealed)
    run = decrypt_failure(tenant.owner, b)
    assert run["status"] == "failed"
    assert "could not be decrypted" in run["error"], run
    assert a_plain not in str(run) and b_plain not in str(run) and CANARY not in str(run)
    fails = [x for x in audit_actions(tenant.owner) if x["action"] == "failed_decrypt"]
    assert any(x["target_id"] == b_ref for x in fails), fails
    assert fails[0]["detail"]["field"] == "secret_headers.X-Key"


def test_ciphertext_copied_to_another_field_fails(tenant):
    plain = canary("field")
    i = make(tenant.owner, {"X-One": plain, "X-Two": canary("two")})
    _, one = sealed(i, "secret_headers.X-One")
    two_ref, _ = sealed(i, "secret_headers.X-Two")
    overwrite(two_ref, one)
    run = decrypt_failure(tenant.owner, i)
    assert "could not be decrypted" in run["error"] and plain not in str(run)


def test_ciphertext_copied_to_another_tenant_fails(tenant, other):
    plain = canary("tenantA")
    mine = make(tenant.owner, {"X-Key": plain})
    theirs = make(other.owner, {"X-Key": canary("tenantB")})
    _, mine_sealed = sealed(mine, "secret_headers.X-Key")
    their_ref, _ = sealed(theirs, "secret_headers.X-Key")
    overwrite(their_ref, mine_sealed)
    run = decrypt_failure(other.owner, theirs)
    assert "could not be decrypted" in run["error"] and plain not in str(run)
    assert any(x["action"] == "failed_decrypt" for x in audit_actions(other.owner))
    assert not any(x["target_id"] == their_ref for x in audit_actions(tenant.owner))


def test_failed_decrypt_is_logged_without_plaintext(tenant):
    plain = canary("log")
    i = make(tenant.owner, {"X-Key": plain})
    ref, _ = sealed(i, "secret_headers.X-Key")
    overwrite(ref, b"\x00" * 40)
    decrypt_failure(tenant.owner, i)
    logs = "".join(open(os.path.join(ENV["ATRIUM_LOG_DIR"], f), errors="replace").read()
                   for f in os.listdir(ENV["ATRIUM_LOG_DIR"]) if f.endswith(".log"))
    assert "secrets.decrypt_failed" in logs
    assert plain not in logs


def test_responses_never_carry_secrets(tenant):
    plain = canary("resp")
    i = make(tenant.owner, {"X-Key": plain})
    for path in ["/v1/integrations", f"/v1/integrations/{i}", f"/v1/integrations/{i}/runs",
                 "/v1/audit-log?limit=200"]:
        no_secret_in(tenant.owner.get(path), plain)


def test_processes_holding_keys_dropped_root_and_are_not_dumpable():
    """atrium-fcgi (master and children) and atrium-integrations read the keys as root, then run
    as their service user, non-dumpable: their /proc files stay root's, so the service user
    cannot read their memory."""
    run = os.path.dirname(ENV["ATRIUM_FCGI_PIDFILE"])
    pids = [int(open(os.path.join(run, f)).read()) for f in ("fcgi.pid", "atrium-integrations.pid")]
    master = pids[0]
    pids += [int(p) for p in os.listdir("/proc") if p.isdigit() and
             _field(int(p), "PPid") == str(master)]
    assert len(pids) >= 3
    for pid in pids:
        assert _field(pid, "Uid") != "0", pid
        assert os.stat(f"/proc/{pid}/environ").st_uid == 0, pid


def _field(pid, name):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split()[1]
    except OSError:
        return None
    return None
