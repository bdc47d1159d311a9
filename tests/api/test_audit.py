"""The audit log (DESIGN §5): create, update and delete of integrations and their secrets are
recorded with the actor; owners and admins read it, nobody else; it is append-only, even for the
schema owner."""
import os
import sys

import psycopg2
import pytest

from conftest import ROLES, assert_problem, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import canary, no_secret_in  # noqa: E402


def test_crud_is_audited_with_the_actor(tenant):
    plain = canary("audit")
    admin = tenant.as_role("admin")
    me = admin.get("/v1/me").json()["key_id"]
    it = admin.post("/v1/integrations", {"type": "intercom", "name": "a", "config": {
        "access_token": plain, "event_name": "e"}}).json()
    admin.patch(f"/v1/integrations/{it['id']}", {"config": {"access_token": canary("audit2")}})
    admin.delete(f"/v1/integrations/{it['id']}")
    r = tenant.owner.get("/v1/audit-log?limit=200")
    assert r.status_code == 200
    no_secret_in(r, plain)
    mine = [x for x in r.json()["items"] if x["actor"] == me]
    seen = {(x["action"], x["target_type"]) for x in mine}
    assert {("create", "integration"), ("create", "secret"), ("update", "secret"),
            ("update", "integration"), ("delete", "secret"), ("delete", "integration")} <= seen
    secret_rows = [x for x in mine if x["target_type"] == "secret"]
    assert all(x["detail"]["owner_id"] == it["id"] and x["detail"]["field"] == "access_token"
               for x in secret_rows)
    ids = [x["id"] for x in r.json()["items"]]
    assert ids == sorted(ids, reverse=True)


def test_only_owners_and_admins_read_it(tenant):
    for role in ROLES:
        r = tenant.as_role(role).get("/v1/audit-log")
        if role in ("owner", "admin"):
            assert r.status_code == 200
        else:
            assert_problem(r, 403)


def test_audit_log_pages(tenant):
    for i in range(3):
        tenant.owner.post("/v1/integrations", {"type": "http", "name": f"p{i}",
                                               "config": {"url": "https://example.com/"}})
    first = tenant.owner.get("/v1/audit-log?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = tenant.owner.get(f"/v1/audit-log?limit=2&cursor={first['next_cursor']}").json()
    assert second["items"][0]["id"] < first["items"][-1]["id"]


def test_tenants_see_only_their_log(tenant, other):
    other.owner.post("/v1/integrations", {"type": "http", "name": "theirs",
                                          "config": {"url": "https://example.com/"}})
    theirs = {x["id"] for x in other.owner.get("/v1/audit-log?limit=200").json()["items"]}
    mine = {x["id"] for x in tenant.owner.get("/v1/audit-log?limit=200").json()["items"]}
    assert theirs and not (theirs & mine)


@pytest.mark.parametrize("user", ["atrium_app", "atrium_worker", "atrium_owner"])
def test_append_only_for_every_role(tenant, user):
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT id::text FROM audit_log LIMIT 1")
        row = cur.fetchone()
    assert row
    for sql in ["UPDATE audit_log SET action = 'reveal' WHERE id = %s",
                "DELETE FROM audit_log WHERE id = %s"]:
        conn = pg(user)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant.id,))
                with pytest.raises(psycopg2.Error):
                    cur.execute(sql, row)
        finally:
            conn.rollback()
            conn.close()
