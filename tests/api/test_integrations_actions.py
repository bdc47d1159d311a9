"""Each provider action against its local fake (tests/fakes/providers.py), through the real queue
and atrium-integrations: the fakes check what they receive (the Google token endpoint verifies the
RS256 JWT with the service account's public key, Sheets accepts only the token it issued, Intercom
and Canvas only the configured token) and the tests check what the fakes recorded. A fake that
fails twice shows the retries in the runs list; a 401 is not retried; a tenant URL in a refused
range never leaves the guard."""
import json
import os
import sys
import time

import pytest

from conftest import ENV, atriumctl, pg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from fakes.helpers import canary, no_secret_in, wait_runs  # noqa: E402
from fakes.providers import Fakes, service_account  # noqa: E402


@pytest.fixture(scope="module")
def fakes():
    f = Fakes(int(ENV["ATRIUM_FAKES_PORT"])).start()
    yield f
    f.stop()
    assert f.violations == [], f.violations


def create(client, body):
    r = client.post("/v1/integrations", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def run_once(client, iid, data, ok=True):
    before = len(client.get(f"/v1/integrations/{iid}/runs").json()["items"])
    r = client.post(f"/v1/integrations/{iid}/test", {"data": data})
    assert r.status_code == 202, r.text
    runs = wait_runs(client, iid, lambda items: len(items) > before and
                     (not ok or items[0]["status"] == "succeeded"))
    return r.json()["event_id"], runs


def test_google_sheets_appends_a_row_with_a_verified_jwt(tenant, fakes):
    sa, pub = service_account()
    sa["canary"] = canary("sa")                # the whole key is a secret: it must leak nowhere
    fakes.google_keys[sa["client_email"]] = pub
    iid = create(tenant.owner, {"type": "google_sheets", "name": "sheet", "config": {
        "service_account": json.dumps(sa), "spreadsheet_id": "sheet-123", "range": "Form!A1"}})
    ev, runs = run_once(tenant.owner, iid, {"email": "ann@example.com", "answer": "=1+1"})
    assert "ann@example.com" not in str(runs) and "a**@example.com" in runs[0]["request_excerpt"]
    assert runs[0]["status"] == "succeeded" and runs[0]["http_status"] == 200, runs[0]
    rows = fakes.sheets[("sheet-123", "Form!A1")]
    assert rows[-1][:2] == ["integration.test", ev]
    assert json.loads(rows[-1][3]) == {"email": "ann@example.com", "answer": "=1+1"}
    token = [t for t, who in fakes.tokens.items() if who == sa["client_email"]]
    assert len(token) == 1
    page = tenant.owner.get(f"/v1/integrations/{iid}/runs")
    no_secret_in(page, token[0], sa["private_key"][40:80])
    assert tenant.owner.get(f"/v1/integrations/{iid}").json()["last_used_at"]


def test_google_sheets_with_an_unknown_key_fails_at_the_token_endpoint(tenant, fakes):
    sa, _ = service_account("stranger@project.iam.gserviceaccount.com")   # key not registered
    iid = create(tenant.owner, {"type": "google_sheets", "name": "bad", "config": {
        "service_account": json.dumps(sa), "spreadsheet_id": "s", "range": "A1"}})
    _, runs = run_once(tenant.owner, iid, {}, ok=False)
    assert runs[0]["status"] == "failed" and "401" in runs[0]["error"]
    fakes.violations.clear()


def test_intercom_creates_then_updates_the_contact_and_records_events(tenant, fakes):
    fakes.intercom_token = canary("intercom")
    iid = create(tenant.owner, {"type": "intercom", "name": "ic", "config": {
        "access_token": fakes.intercom_token, "event_name": "flow-completed"}})
    run_once(tenant.owner, iid, {"email": "lea@example.com", "name": "Lea"})
    run_once(tenant.owner, iid, {"email": "lea@example.com", "name": "Lea B."})
    contacts = [c for c in fakes.contacts.values() if c["email"] == "lea@example.com"]
    assert len(contacts) == 1 and contacts[0]["name"] == "Lea B." and contacts[0]["role"] == "user"
    evs = [e for e in fakes.intercom_events if e["id"] == contacts[0]["id"]]
    assert len(evs) == 2 and {e["event_name"] for e in evs} == {"flow-completed"}
    methods = [(r[1], r[2]) for r in fakes.seen("intercom")][-6:]
    assert ("PUT", f"/intercom/contacts/{contacts[0]['id']}") in methods
    no_secret_in(tenant.owner.get(f"/v1/integrations/{iid}/runs"), fakes.intercom_token, "lea@example.com")


def test_canvas_posts_the_grade(tenant, fakes):
    fakes.canvas_token = canary("canvas")
    iid = create(tenant.owner, {"type": "canvas", "name": "cv", "config": {
        "base_url": fakes.base + "/canvas/", "api_token": fakes.canvas_token,
        "course_id": "101", "assignment_id": "7", "posted_grade": "pass"}})
    run_once(tenant.owner, iid, {"canvas_user_id": 42})
    assert fakes.grades[-1] == {"course": "101", "assignment": "7", "user": "42", "grade": "pass"}


def test_canvas_wrong_token_is_not_retried(tenant, fakes):
    fakes.canvas_token = canary("canvas-right")
    iid = create(tenant.owner, {"type": "canvas", "name": "cv-bad", "config": {
        "base_url": fakes.base + "/canvas", "api_token": canary("canvas-wrong"),
        "course_id": "1", "assignment_id": "2"}})
    _, runs = run_once(tenant.owner, iid, {"canvas_user_id": 1}, ok=False)
    time.sleep(2)                                       # retries would show up by now
    runs = tenant.owner.get(f"/v1/integrations/{iid}/runs").json()["items"]
    assert len(runs) == 1 and runs[0]["http_status"] == 401
    fakes.violations.clear()


def test_http_posts_json_with_plain_and_secret_headers(tenant, fakes):
    secret = canary("hdr")
    iid = create(tenant.owner, {"type": "http", "name": "hook", "config": {
        "url": fakes.base + "/http/hook", "headers": {"X-Plain": "yes"},
        "secret_headers": {"X-Api-Key": secret}}})
    ev, runs = run_once(tenant.owner, iid, {"k": "v"})
    req = [r for r in fakes.seen("http") if r[2] == "/http/hook"][-1]
    h = {k.lower(): v for k, v in req[3].items()}
    assert h["x-api-key"] == secret and h["x-plain"] == "yes" and h["idempotency-key"] == ev
    assert json.loads(req[4]) == {"id": ev, "type": "integration.test", "data": {"k": "v"}}
    no_secret_in(tenant.owner.get(f"/v1/integrations/{iid}/runs"), secret)
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT last_used_at FROM secrets WHERE owner_id = %s", (iid,))
        assert cur.fetchone()[0] is not None


def test_a_fake_failing_twice_shows_the_retries(tenant, fakes):
    fakes.fail_next("/http/flaky", 2)
    iid = create(tenant.owner, {"type": "http", "name": "flaky", "config": {"url": fakes.base + "/http/flaky"}})
    _, runs = run_once(tenant.owner, iid, {})
    runs = sorted(runs, key=lambda x: x["attempt"])
    assert [(x["attempt"], x["status"], x["http_status"]) for x in runs] == \
        [(1, "failed", 503), (2, "failed", 503), (3, "succeeded", 200)]
    assert len({x["job_id"] for x in runs}) == 1


def test_a_refused_address_never_leaves_the_guard(tenant, fakes):
    iid = create(tenant.owner, {"type": "http", "name": "meta", "config": {
        "url": "http://169.254.169.254/latest/meta-data/"}})
    _, runs = run_once(tenant.owner, iid, {}, ok=False)
    assert runs[0]["status"] == "failed" and runs[0]["http_status"] is None


def test_bound_events_fan_out_to_matching_integrations_only(tenant, fakes):
    """submission.created (emitted here through atriumctl, as the submissions work will) reaches the
    active integrations bound to it, for their flow or any flow, and no others."""
    flow = tenant.owner.post("/v1/flows", {"name": "bound"}).json()["id"]
    other_flow = tenant.owner.post("/v1/flows", {"name": "other"}).json()["id"]

    def hook(name, **extra):
        return create(tenant.owner, {"type": "http", "name": name, "config": {
            "url": f"{fakes.base}/http/{name}"}, **extra})
    hook("any-flow", events=["submission.created"])
    hook("this-flow", events=["submission.created"], flow_id=flow)
    hook("that-flow", events=["submission.created"], flow_id=other_flow)
    hook("inactive", events=["submission.created"], active=False)
    hook("unbound")
    out = atriumctl("jobs", "emit", "--tenant", tenant.id, "--type", "submission.created",
                    "--payload", json.dumps({"flow_id": flow, "submission_id": "s-1"}))
    assert out.returncode == 0
    assert fakes.wait_for(lambda: {"/http/any-flow", "/http/this-flow"} <=
                          {r[2] for r in fakes.requests if r[0] == "http"})
    time.sleep(1.5)
    got = [r for r in fakes.seen("http") if r[2] in (
        "/http/any-flow", "/http/this-flow", "/http/that-flow", "/http/inactive", "/http/unbound")]
    assert sorted(r[2] for r in got) == ["/http/any-flow", "/http/this-flow"]
    body = json.loads(got[0][4])
    assert body["type"] == "submission.created" and body["data"]["submission_id"] == "s-1"
