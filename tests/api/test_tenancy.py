"""Tenant isolation and roles: 404 for another tenant's ids on every route, 403 by the permission
table, and row-level security that holds even when a query forgets its tenant filter."""
import psycopg2
import pytest

from conftest import ROLES, SIMPLE_FLOW, assert_problem, pg


@pytest.fixture(scope="module")
def theirs(other):
    f = other.owner.post("/v1/flows", SIMPLE_FLOW).json()
    other.owner.post(f"/v1/flows/{f['id']}/publish")
    k = other.owner.post("/v1/api-keys", {"name": "theirs", "role": "viewer"}).json()
    return {"flow": f["id"], "key": k["id"]}


def test_every_tenant_scoped_route_answers_404_for_another_tenants_ids(tenant, theirs):
    f, k = theirs["flow"], theirs["key"]
    calls = [
        ("GET", f"/v1/flows/{f}", None), ("PATCH", f"/v1/flows/{f}", {"name": "x"}),
        ("DELETE", f"/v1/flows/{f}", None), ("POST", f"/v1/flows/{f}/publish", None),
        ("POST", f"/v1/flows/{f}/unpublish", None), ("GET", f"/v1/flows/{f}/versions", None),
        ("GET", f"/v1/flows/{f}/versions/1", None), ("GET", f"/v1/api-keys/{k}", None),
        ("DELETE", f"/v1/api-keys/{k}", None),
    ]
    for method, path, body in calls:
        assert_problem(tenant.owner.req(method, path, body=body), 404)
    assert all(i["id"] != f for i in tenant.owner.get("/v1/flows").json()["items"])


def test_their_objects_are_untouched(other, theirs):
    assert other.owner.get(f"/v1/flows/{theirs['flow']}").json()["status"] == "published"
    assert other.owner.get(f"/v1/api-keys/{theirs['key']}").json()["revoked"] is False


# (method, path template, body, roles allowed)
MATRIX = [
    ("GET", "/v1/flows", None, ROLES),
    ("POST", "/v1/flows", {"name": "m"}, ["owner", "admin", "creator"]),
    ("GET", "/v1/flows/{f}", None, ROLES),
    ("PATCH", "/v1/flows/{f}", {"name": "m2"}, ["owner", "admin", "creator"]),
    ("POST", "/v1/flows/{f}/publish", None, ["owner", "admin", "creator"]),
    ("GET", "/v1/flows/{f}/versions", None, ROLES),
    ("GET", "/v1/api-keys", None, ["owner", "admin"]),
    ("POST", "/v1/api-keys", {"name": "m", "role": "viewer"}, ["owner", "admin"]),
    ("GET", "/v1/me", None, ROLES),
]


@pytest.mark.parametrize("role", ROLES)
def test_permission_table(tenant, role):
    f = tenant.owner.post("/v1/flows", SIMPLE_FLOW).json()["id"]
    c = tenant.as_role(role)
    for method, path, body, allowed in MATRIX:
        r = c.req(method, path.format(f=f), body=body)
        if role in allowed:
            assert r.status_code < 300, (role, method, path, r.text)
        else:
            assert_problem(r, 403)
    r = c.delete(f"/v1/flows/{f}")
    assert r.status_code == (204 if role in ("owner", "admin", "creator") else 403)


def test_rls_holds_when_a_query_forgets_its_tenant_filter(tenant, other, theirs):
    tenant.owner.post("/v1/flows", {"name": "mine"})
    with pg() as c, c.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        cur.execute("SELECT DISTINCT tenant_id::text FROM flows")       # no WHERE tenant_id
        assert [r[0] for r in cur.fetchall()] == [tenant.id]
        cur.execute("SELECT count(*) FROM flows WHERE id = %s", (theirs["flow"],))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM api_keys WHERE tenant_id = %s", (other.id,))
        assert cur.fetchone()[0] == 0
        cur.execute("UPDATE flows SET name = 'hijacked' WHERE id = %s", (theirs["flow"],))
        assert cur.rowcount == 0
    with pg() as c, c.cursor() as cur:       # no tenant set at all: nothing is visible
        cur.execute("SELECT count(*) FROM flows")
        assert cur.fetchone()[0] == 0
    with pg() as c, c.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant.id,))
        with pytest.raises(psycopg2.Error):
            cur.execute("INSERT INTO flows (tenant_id, id, name, definition) VALUES (%s, gen_random_uuid(),"
                        " 'x', '{}')", (other.id,))


def test_application_roles_cannot_bypass_rls():
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname IN ('atrium_app', 'atrium_worker') ORDER BY 1")
        assert cur.fetchall() == [("atrium_app", False, False), ("atrium_worker", False, False)]
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                    "AND tableowner IN ('atrium_app', 'atrium_worker')")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity "
                    "AND c.relname <> 'schema_migrations' AND EXISTS (SELECT 1 FROM pg_attribute a "
                    "WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')")
        assert cur.fetchall() == []


def test_tenant_id_leads_every_primary_key_of_tenant_tables():
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("""
            SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND k.contype IN ('p', 'u', 'f')
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
              AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                              AND a.attname = 'tenant_id' AND a.attnum = ANY (k.conkey))""")
        assert cur.fetchall() == []
