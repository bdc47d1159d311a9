"""Bad input: each answers a 4xx problem+json naming what was wrong, never a 500, and writes nothing."""
import json

import pytest

from conftest import assert_problem, pg


def flow_count(tenant_id):
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM flows WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


CASES = [
    # (raw body, content type, status, field or detail fragment)
    (b'{"name": "x"', "application/json", 400, None),
    (b'{"name": "x"} trailing', "application/json", 400, None),
    (b"[1, 2]", "application/json", 422, None),
    (b'{"name": 5}', "application/json", 422, "name"),
    (b'{"name": "x", "colour": "red"}', "application/json", 422, "colour"),
    (b'{"name": ""}', "application/json", 422, "name"),
    (b'{"name": "' + b"x" * 300 + b'"}', "application/json", 422, "name"),
    (b'{"name": "a\\u0000b"}', "application/json", 422, "name"),
    (b'{"name": "a\x00b"}', "application/json", 400, None),
    (b'{"name": "\xff\xfe"}', "application/json", 400, None),
    (b'{"name": "x", "uploads": {"max_files": 99999999999999999999999}}', "application/json", 422,
     "uploads.max_files"),
    (b'{"name": "x", "uploads": {"max_files": 1e400}}', "application/json", 422, "uploads.max_files"),
    (b'{"name": "x", "uploads": {"max_files": 1.5}}', "application/json", 422, "uploads.max_files"),
    (b'{"name": "x", "uploads": {"max_files": -1}}', "application/json", 422, "uploads.max_files"),
    (b'{"name": "x", "steps": {}}', "application/json", 422, "steps"),
    (b'{"name": "x", "steps": [{"key": "a", "fields": [{"key": "b", "label": "c", "type": "text",'
     b' "required": "yes"}]}]}', "application/json", 422, "steps[0].fields[0].required"),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400, None),
    (b'{"name": "x"}', "text/plain", 415, None),
    (b'{"name": "x"}', "application/x-www-form-urlencoded", 415, None),
    (b"", "application/json", 400, None),
]


@pytest.mark.parametrize("raw,ctype,status,field", CASES)
def test_bad_bodies_are_refused_and_write_nothing(tenant, raw, ctype, status, field):
    before = flow_count(tenant.id)
    r = tenant.owner.req("POST", "/v1/flows", raw=raw, headers={"Content-Type": ctype})
    assert_problem(r, status, field)
    assert flow_count(tenant.id) == before


def test_oversize_body_inside_nginx_limit_is_413_from_the_route(tenant):
    body = json.dumps({"name": "x", "steps": [{"key": "s", "title": "t" * 400, "fields": []}] * 1000})
    assert len(body) > 256 * 1024
    assert_problem(tenant.owner.req("POST", "/v1/flows", raw=body,
                                    headers={"Content-Type": "application/json"}), 413)


def test_oversize_body_past_nginx_limit_is_413_problem(tenant):
    r = tenant.owner.req("POST", "/v1/flows", raw=b"x" * (2 * 1024 * 1024),
                         headers={"Content-Type": "application/json"})
    assert_problem(r, 413)


def test_body_on_a_bodiless_route_is_refused(tenant):
    f = tenant.owner.post("/v1/flows", {"name": "nb"}).json()
    r = tenant.owner.req("POST", f"/v1/flows/{f['id']}/unpublish", raw=b'{"x": 1}',
                         headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


def test_bad_query_parameters(tenant):
    assert_problem(tenant.owner.get("/v1/flows?limit=999999999999999999999"), 422, "limit")
    assert_problem(tenant.owner.get("/v1/flows?limit=5&limit=6"), 400)
    for q in ("cursor=%zz", "cursor=%00", "cursor=%4"):
        status, body = raw_get(tenant, "/v1/flows?" + q)
        assert status == 400 and body["status"] == 400 and "cursor" in body["detail"], (q, body)


def raw_get(tenant, target):
    """GET with the target sent byte for byte (requests would re-quote a bad escape)."""
    import http.client
    import urllib.parse
    from conftest import BASE
    u = urllib.parse.urlparse(BASE)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.putrequest("GET", target, skip_accept_encoding=True)
    c.putheader("Authorization", "Bearer " + tenant.owner.key)
    c.endheaders()
    r = c.getresponse()
    return r.status, json.loads(r.read())
