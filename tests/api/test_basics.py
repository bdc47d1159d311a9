"""The shared request path: health, request ids, the dispatcher's 404 and 405."""
from conftest import BASE, assert_problem


def test_ping_answers_without_credentials(anon):
    r = anon.get("/v1/ping")
    assert r.status_code == 200 and r.json() == {"ok": True}


def test_health_reports_both_dependencies(anon):
    r = anon.get("/v1/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "postgres": "up", "redis": "up"}


def test_every_response_carries_a_request_id(anon, tenant):
    ids = set()
    for r in (anon.get("/v1/ping"), anon.get("/v1/nope"), tenant.owner.get("/v1/me"),
              anon.get("/v1/flows")):
        rid = r.headers.get("X-Request-Id")
        assert rid and len(rid) >= 16, r.headers
        ids.add(rid)
    assert len(ids) == 4


def test_problem_body_echoes_the_request_id(anon):
    r = anon.get("/v1/no-such-thing")
    p = assert_problem(r, 404)
    assert p["request_id"] == r.headers["X-Request-Id"]


def test_unknown_route_is_404(anon):
    assert_problem(anon.get("/v1/flows/not-a-uuid"), 404)
    assert_problem(anon.get("/v1/flows/"), 404)
    assert_problem(anon.get("/v1/flows/00000000-0000-7000-8000-000000000000/nope"), 404)


def test_wrong_method_is_405_with_allow(anon):
    r = anon.req("PUT", "/v1/flows")
    assert_problem(r, 405)
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_encoded_nul_or_slash_in_an_id_is_404(anon, tenant):
    assert_problem(tenant.owner.get("/v1/flows/%00"), 400)     # nginx itself refuses an encoded NUL
    assert_problem(tenant.owner.get("/v1/flows/..%2F..%2Fetc"), 404)


def test_me_names_tenant_and_role(tenant):
    r = tenant.owner.get("/v1/me")
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["tenant"]["id"] == tenant.id and me["role"] == "owner"


def test_https_listener_serves_the_api():
    import requests
    from conftest import ENV
    r = requests.get(ENV["ATRIUM_HTTPS_URL"] + "/v1/ping", verify=ENV["ATRIUM_CA"], timeout=10)
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert BASE.startswith("http://")
