"""Integrations CRUD (DESIGN §5): the registry, per-field validation against the type's schema,
secret fields sealed and never returned, roles, tenant isolation, PATCH replacing and DELETE
destroying secrets, and the durable test run recorded in the runs list."""
import os
import sys

import pytest

from conftest import ROLES, assert_problem, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import canary, no_secret_in, wait_runs  # noqa: E402


def http_body(secret, url="http://127.0.0.1:9/hook"):
    return {"type": "http", "name": "hook", "events": ["submission.created"],
            "config": {"url": url, "headers": {"X-Plain": "visible"},
                       "secret_headers": {"X-Api-Key": secret}}}


def secret_rows(iid):
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT id::text, field, sealed, updated_at FROM secrets "
                    "WHERE owner_table = 'integrations' AND owner_id = %s ORDER BY field", (iid,))
        return cur.fetchall()


def test_integration_types_describe_fields_secrets_and_events(tenant):
    r = tenant.owner.get("/v1/integration-types")
    assert r.status_code == 200
    types = {t["type"]: t for t in r.json()["items"]}
    assert set(types) == {"google_sheets", "intercom", "canvas", "http"}
    secret = {t: sorted(f["name"] for f in types[t]["fields"] if f["secret"]) for t in types}
    assert secret == {"google_sheets": ["service_account"], "intercom": ["access_token"],
                      "canvas": ["api_token"], "http": ["secret_headers"]}
    assert "submission.created" in types["intercom"]["events"]


def test_create_seals_secrets_and_never_returns_them(tenant):
    s = canary("http")
    r = tenant.owner.post("/v1/integrations", http_body(s))
    assert r.status_code == 201, r.text
    no_secret_in(r, s)
    it = r.json()
    assert r.headers["Location"] == f"/v1/integrations/{it['id']}"
    key = it["config"]["secret_headers"]["X-Api-Key"]
    assert key["configured"] is True and key["updated_at"]
    assert it["config"]["headers"] == {"X-Plain": "visible"}
    assert it["created_by"] and it["updated_by"] and it["last_used_at"] is None
    for resp in (tenant.owner.get(f"/v1/integrations/{it['id']}"), tenant.owner.get("/v1/integrations")):
        assert resp.status_code == 200
        no_secret_in(resp, s)
        assert "secret_ref" not in resp.text
    # stored: a reference in the record, a sealed value elsewhere, the plaintext nowhere
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT config::text FROM integrations WHERE id = %s", (it["id"],))
        cfg = cur.fetchone()[0]
    assert s not in cfg and "secret_ref" in cfg
    rows = secret_rows(it["id"])
    assert [r[1] for r in rows] == ["secret_headers.X-Api-Key"]
    assert s.encode() not in bytes(rows[0][2]) and len(bytes(rows[0][2])) == len(s) + 28


@pytest.mark.parametrize("body,field", [
    ({"type": "http", "name": "x", "config": {}}, "config.url"),
    ({"type": "http", "name": "x", "config": {"url": "ftp://example.com/"}}, "config.url"),
    ({"type": "http", "name": "x", "config": {"url": "https://e.com/", "bogus": 1}}, "config.bogus"),
    ({"type": "http", "name": "x", "config": {"url": "https://e.com/", "headers": {"Host": "a"}}},
     "config.headers.Host"),
    ({"type": "http", "name": "x", "config": {"url": "https://e.com/", "secret_headers": {"X": 5}}},
     "config.secret_headers.X"),
    ({"type": "intercom", "name": "x", "config": {"event_name": "e"}}, "config.access_token"),
    ({"type": "canvas", "name": "x", "config": {"base_url": "https://c.example", "api_token": "t",
                                                 "course_id": "1"}}, "config.assignment_id"),
    ({"type": "google_sheets", "name": "x", "config": {"service_account": "{}", "range": "A1"}},
     "config.spreadsheet_id"),
    ({"type": "intercom", "name": "x", "config": {"access_token": "t", "event_name": "e"},
      "events": ["flow.deleted"]}, "events[0]"),
    ({"type": "nope", "name": "x", "config": {}}, "type"),
    ({"type": "http", "name": "", "config": {"url": "https://e.com/"}}, "name"),
])
def test_config_is_validated_per_field(tenant, body, field):
    assert_problem(tenant.owner.post("/v1/integrations", body), 422, field)


def test_several_field_errors_come_back_together(tenant):
    p = assert_problem(tenant.owner.post("/v1/integrations", {
        "type": "canvas", "name": "x", "config": {"base_url": "nope", "api_token": ""}}), 422)
    fields = {e["field"] for e in p["errors"]}
    assert {"config.base_url", "config.api_token", "config.course_id", "config.assignment_id"} <= fields


def test_unknown_flow_is_a_field_error(tenant):
    body = http_body(canary())
    body["flow_id"] = "01900000-0000-7000-8000-000000000000"
    assert_problem(tenant.owner.post("/v1/integrations", body), 422, "flow_id")


def test_patch_replaces_a_secret_and_keeps_the_others(tenant):
    s1, s2 = canary("a"), canary("b")
    body = {"type": "intercom", "name": "ic", "config": {"access_token": s1, "event_name": "signup"}}
    it = tenant.owner.post("/v1/integrations", body).json()
    before = secret_rows(it["id"])
    r = tenant.owner.patch(f"/v1/integrations/{it['id']}", {"name": "ic2", "config": {"event_name": "x"}})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "ic2" and r.json()["config"]["event_name"] == "x"
    assert secret_rows(it["id"]) == before          # untouched when not given
    r = tenant.owner.patch(f"/v1/integrations/{it['id']}", {"config": {"access_token": s2}})
    assert r.status_code == 200, r.text
    no_secret_in(r, s1, s2)
    after = secret_rows(it["id"])
    assert after[0][0] == before[0][0]              # same reference, new sealed value
    assert bytes(after[0][2]) != bytes(before[0][2]) and after[0][3] > before[0][3]
    assert r.json()["config"]["access_token"]["configured"] is True
    # invalid patches change nothing
    assert_problem(tenant.owner.patch(f"/v1/integrations/{it['id']}", {"config": {"access_token": ""}}),
                   422, "config.access_token")
    assert_problem(tenant.owner.patch(f"/v1/integrations/{it['id']}", {"config": {"event_name": None}}),
                   422, "config.event_name")
    assert_problem(tenant.owner.patch(f"/v1/integrations/{it['id']}", {"type": "http"}), 422, "type")
    assert secret_rows(it["id"]) == after


def test_delete_destroys_its_secrets(tenant):
    it = tenant.owner.post("/v1/integrations", http_body(canary())).json()
    assert len(secret_rows(it["id"])) == 1
    assert tenant.owner.delete(f"/v1/integrations/{it['id']}").status_code == 204
    assert secret_rows(it["id"]) == []
    assert_problem(tenant.owner.get(f"/v1/integrations/{it['id']}"), 404)
    assert_problem(tenant.owner.delete(f"/v1/integrations/{it['id']}"), 404)


def test_roles(tenant):
    it = tenant.owner.post("/v1/integrations", http_body(canary())).json()
    for role in ROLES:
        c = tenant.as_role(role)
        read, write = role in ("owner", "admin", "developer"), role in ("owner", "admin")
        for r in (c.get("/v1/integrations"), c.get(f"/v1/integrations/{it['id']}"),
                  c.get(f"/v1/integrations/{it['id']}/runs")):
            assert r.status_code == (200 if read else 403), (role, r.text)
        r = c.post("/v1/integrations", http_body(canary()))
        assert r.status_code == (201 if write else 403), (role, r.text)
        r = c.patch(f"/v1/integrations/{it['id']}", {"name": "n-" + role})
        assert r.status_code == (200 if write else 403), (role, r.text)
        assert c.get("/v1/integration-types").status_code == 200
    assert_problem(tenant.as_role("developer").delete(f"/v1/integrations/{it['id']}"), 403)
    assert_problem(tenant.as_role("developer").post(f"/v1/integrations/{it['id']}/test", {}), 403)


def test_another_tenant_gets_404(tenant, other):
    s = canary()
    it = other.owner.post("/v1/integrations", http_body(s)).json()
    i = it["id"]
    for method, path, body in [("GET", f"/v1/integrations/{i}", None),
                               ("PATCH", f"/v1/integrations/{i}", {"name": "x"}),
                               ("DELETE", f"/v1/integrations/{i}", None),
                               ("POST", f"/v1/integrations/{i}/test", {}),
                               ("GET", f"/v1/integrations/{i}/runs", None)]:
        no_secret_in(assert_problem_resp(tenant.owner.req(method, path, body=body), 404), s)
    assert all(x["id"] != i for x in tenant.owner.get("/v1/integrations").json()["items"])
    assert other.owner.get(f"/v1/integrations/{i}").json()["name"] == "hook"


def assert_problem_resp(r, status):
    assert_problem(r, status)
    return r


def test_test_run_goes_through_the_queue_and_is_recorded(tenant):
    """Against a closed port the action fails: each attempt is a failed run, retried by the queue."""
    it = tenant.owner.post("/v1/integrations", http_body(canary(), url="http://127.0.0.1:9/closed")).json()
    r = tenant.owner.post(f"/v1/integrations/{it['id']}/test", {"data": {"email": "a@example.com"}})
    assert r.status_code == 202, r.text
    assert r.json()["event_id"]
    runs = wait_runs(tenant.owner, it["id"], lambda items: len(items) >= 2)
    assert all(x["status"] == "failed" and x["error"] for x in runs)
    assert sorted(x["attempt"] for x in runs)[:2] == [1, 2]
    assert len({x["job_id"] for x in runs}) == 1
    assert runs[0]["trigger"] == "integration.test" and runs[0]["request_excerpt"].startswith("POST ")
    assert runs[0]["duration_ms"] >= 0


def test_test_run_body_is_validated(tenant):
    it = tenant.owner.post("/v1/integrations", http_body(canary())).json()
    assert_problem(tenant.owner.post(f"/v1/integrations/{it['id']}/test", {"data": 5}), 422, "data")
    assert_problem(tenant.owner.post(f"/v1/integrations/{it['id']}/test", {"x": 1}), 422, "x")
    assert_problem(tenant.owner.post("/v1/integrations/01900000-0000-7000-8000-000000000000/test", {}), 404)


def test_patch_null_secret_map_destroys_its_secrets(tenant):
    it = tenant.owner.post("/v1/integrations", http_body(canary())).json()
    r = tenant.owner.patch(f"/v1/integrations/{it['id']}", {"config": {"secret_headers": {
        "X-A": canary("a"), "X-B": canary("b")}}})
    assert r.status_code == 200, r.text
    assert sorted(x[1] for x in secret_rows(it["id"])) == ["secret_headers.X-A", "secret_headers.X-B"]
    r = tenant.owner.patch(f"/v1/integrations/{it['id']}", {"config": {"secret_headers": None}})
    assert r.status_code == 200, r.text
    assert "secret_headers" not in r.json()["config"] and secret_rows(it["id"]) == []
