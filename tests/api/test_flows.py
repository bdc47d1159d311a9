"""Flows: CRUD with per-field validation, immutable published versions, the public read."""
import copy

from conftest import SIMPLE_FLOW, assert_problem


def create(client, body=None):
    r = client.post("/v1/flows", body or SIMPLE_FLOW)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_read_update_delete(tenant):
    f = create(tenant.owner)
    assert f["status"] == "draft" and f["published_version"] is None
    assert f["steps"] == SIMPLE_FLOW["steps"] and f["uploads"] == SIMPLE_FLOW["uploads"]
    assert tenant.owner.get("/v1/flows/" + f["id"]).json() == f
    r = tenant.owner.patch("/v1/flows/" + f["id"], {"name": "Renamed"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["steps"] == f["steps"]
    r = tenant.owner.patch("/v1/flows/" + f["id"], {"uploads": None})
    assert r.json()["uploads"] is None
    assert tenant.owner.delete("/v1/flows/" + f["id"]).status_code == 204
    assert_problem(tenant.owner.get("/v1/flows/" + f["id"]), 404)
    assert_problem(tenant.owner.delete("/v1/flows/" + f["id"]), 404)


def test_list_is_newest_first_and_paged(tenant):
    ids = [create(tenant.owner, {"name": f"list {i}"})["id"] for i in range(3)]
    page = tenant.owner.get("/v1/flows?limit=2").json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    rest = tenant.owner.get("/v1/flows?limit=2&cursor=" + page["next_cursor"]).json()
    assert rest["items"][0]["id"] == ids[0]


def field_errors(r):
    return {e["field"]: e["detail"] for e in r.json().get("errors", [])}


def test_schema_errors_name_the_field_and_the_allowed_values(tenant):
    bad = copy.deepcopy(SIMPLE_FLOW)
    bad["steps"][0]["fields"][1]["type"] = "colour"
    bad["steps"][1]["fields"][0]["max_size"] = "big"
    bad["steps"][0]["fields"][0]["surprise"] = 1
    r = tenant.owner.post("/v1/flows", bad)
    assert_problem(r, 422)
    errs = field_errors(r)
    assert "multi_choice" in errs["steps[0].fields[1].type"]
    assert "steps[1].fields[0].max_size" in errs and "steps[0].fields[0].surprise" in errs


def test_semantic_rules(tenant):
    bad = copy.deepcopy(SIMPLE_FLOW)
    bad["steps"][0]["fields"][0]["key"] = "Bad Key"
    bad["steps"][0]["fields"][2].pop("choices")
    bad["steps"][1]["fields"][1]["min"] = 200
    bad["steps"][1]["fields"][0]["max_length"] = 5
    bad["steps"][1]["fields"].append({"key": "email", "label": "dup", "type": "text"})
    bad["steps"][1]["key"] = "about"
    r = tenant.owner.post("/v1/flows", bad)
    assert_problem(r, 422)
    errs = field_errors(r)
    for f in ["steps[0].fields[0].key", "steps[0].fields[2].choices", "steps[1].fields[1].min",
              "steps[1].fields[0].max_length", "steps[1].fields[2].key", "steps[1].key"]:
        assert f in errs, (f, errs)


def test_publish_snapshots_an_immutable_version(tenant, anon):
    f = create(tenant.owner)
    assert_problem(anon.get("/v1/public/flows/" + f["id"]), 404)
    p = tenant.owner.post("/v1/flows/" + f["id"] + "/publish")
    assert p.status_code == 200, p.text
    assert p.json()["status"] == "published" and p.json()["published_version"] == 1
    pub = anon.get("/v1/public/flows/" + f["id"])
    assert pub.status_code == 200 and pub.json()["version"] == 1 and pub.json()["steps"] == f["steps"]
    # editing the live flow does not change what end users get until the next publish
    tenant.owner.patch("/v1/flows/" + f["id"], {"name": "Edited", "steps": [SIMPLE_FLOW["steps"][0]]})
    assert anon.get("/v1/public/flows/" + f["id"]).json()["name"] == "Onboarding"
    assert tenant.owner.post("/v1/flows/" + f["id"] + "/publish").json()["published_version"] == 2
    pub2 = anon.get("/v1/public/flows/" + f["id"]).json()
    assert pub2["version"] == 2 and pub2["name"] == "Edited" and len(pub2["steps"]) == 1
    versions = tenant.owner.get("/v1/flows/" + f["id"] + "/versions").json()
    assert [v["version"] for v in versions["items"]] == [2, 1] and versions["published_version"] == 2
    v1 = tenant.owner.get("/v1/flows/" + f["id"] + "/versions/1").json()
    assert v1["name"] == "Onboarding" and len(v1["steps"]) == 2
    assert_problem(tenant.owner.get("/v1/flows/" + f["id"] + "/versions/9"), 404)
    assert_problem(tenant.owner.get("/v1/flows/" + f["id"] + "/versions/0"), 404)


def test_unpublish_hides_the_public_flow(tenant, anon):
    f = create(tenant.owner)
    assert_problem(tenant.owner.post("/v1/flows/" + f["id"] + "/unpublish"), 409)
    tenant.owner.post("/v1/flows/" + f["id"] + "/publish")
    r = tenant.owner.post("/v1/flows/" + f["id"] + "/unpublish")
    assert r.status_code == 200 and r.json()["status"] == "draft"
    assert_problem(anon.get("/v1/public/flows/" + f["id"]), 404)


def test_publish_needs_a_step(tenant):
    f = create(tenant.owner, {"name": "empty"})
    assert_problem(tenant.owner.post("/v1/flows/" + f["id"] + "/publish"), 422, "steps")


def test_publish_and_unpublish_emit_events(tenant):
    from conftest import pg
    f = create(tenant.owner)
    tenant.owner.post("/v1/flows/" + f["id"] + "/publish")
    tenant.owner.post("/v1/flows/" + f["id"] + "/unpublish")
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT type, payload->>'flow_id' FROM events WHERE tenant_id = %s "
                    "AND payload->>'flow_id' = %s ORDER BY id", (tenant.id, f["id"]))
        assert [row[0] for row in cur.fetchall()] == ["flow.published", "flow.unpublished"]
