"""API keys: shown once, stored hashed, listed by prefix, revocable; roles cannot escalate."""
from conftest import Client, assert_problem, pg


def test_no_key_is_401_with_challenge(anon):
    r = anon.get("/v1/flows")
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_and_unknown_keys_are_401(tenant):
    good = tenant.owner.key
    for bad in ["x", "atr_", good[:-1] + ("A" if good[-1] != "A" else "B"), good + "x",
                "atr_" + "0" * 32 + "_" + "A" * 43, good.upper()]:
        assert_problem(Client(bad).get("/v1/flows"), 401)
    assert_problem(tenant.owner.get("/v1/flows", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)


def test_key_is_shown_once_and_stored_hashed(tenant):
    r = tenant.owner.post("/v1/api-keys", {"name": "ci", "role": "developer"})
    assert r.status_code == 201, r.text
    k = r.json()
    key = k["api_key"]
    assert key.startswith("atr_") and k["prefix"] and key.startswith(k["prefix"]) and k["role"] == "developer"
    got = tenant.owner.get("/v1/api-keys/" + k["id"]).json()
    assert "api_key" not in got and "secret_hash" not in got
    listed = tenant.owner.get("/v1/api-keys").json()["items"]
    assert any(i["id"] == k["id"] for i in listed) and all("api_key" not in i for i in listed)
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT secret_hash FROM api_keys WHERE id = %s", (k["id"],))
        (h,) = cur.fetchone()
        assert len(h) == 64 and key.split("_")[-1] not in h
        cur.execute("SELECT count(*) FROM api_keys WHERE secret_hash LIKE %s OR prefix = %s",
                    ("%" + key[-20:] + "%", key))
        assert cur.fetchone()[0] == 0


def test_revoked_key_is_refused(tenant):
    k = tenant.owner.post("/v1/api-keys", {"name": "temp", "role": "viewer"}).json()
    c = Client(k["api_key"])
    assert c.get("/v1/me").status_code == 200
    assert tenant.owner.delete("/v1/api-keys/" + k["id"]).status_code == 204
    assert_problem(c.get("/v1/me"), 401)
    assert tenant.owner.get("/v1/api-keys/" + k["id"]).json()["revoked"] is True


def test_a_key_cannot_revoke_itself(tenant):
    me = tenant.owner.get("/v1/me").json()
    assert_problem(tenant.owner.delete("/v1/api-keys/" + me["key_id"]), 409)


def test_roles_cannot_escalate(tenant):
    admin = tenant.as_role("admin")
    assert_problem(admin.post("/v1/api-keys", {"name": "x", "role": "owner"}), 403)
    assert admin.post("/v1/api-keys", {"name": "x", "role": "creator"}).status_code == 201
    owner_key = tenant.owner.get("/v1/me").json()["key_id"]
    assert_problem(admin.delete("/v1/api-keys/" + owner_key), 403)
    assert tenant.owner.get("/v1/me").status_code == 200


def test_key_listing_pages_with_a_cursor(tenant):
    for i in range(3):
        assert tenant.owner.post("/v1/api-keys", {"name": f"page{i}", "role": "viewer"}).status_code == 201
    seen, cursor = [], None
    while True:
        q = "/v1/api-keys?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = tenant.owner.get(q).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 4
    assert_problem(tenant.owner.get("/v1/api-keys?limit=0"), 422, "limit")
    assert_problem(tenant.owner.get("/v1/api-keys?limit=abc"), 422, "limit")
    assert_problem(tenant.owner.get("/v1/api-keys?cursor=zzz"), 422, "cursor")
