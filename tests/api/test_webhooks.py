"""Webhooks (issue 4): endpoint CRUD with a generated whsec_ secret, the SSRF check on create,
forbidden and write-only custom headers, roles and tenant isolation, signed deliveries verified by
a local receiver (Standard Webhooks), retries on the configured schedule with the same webhook-id,
dead deliveries, manual retry and bulk replay, 410 disabling, 429 Retry-After, no redirects,
secret rotation (both signatures for 24 h), reveal audited, redacted attempt payloads.
The test stack shortens the schedule to 300..2100 ms (ATRIUM_WEBHOOK_SCHEDULE_MS)."""
import base64
import json
import time

import pytest

from conftest import assert_problem, atriumctl, pg
from webhook_receiver import Receiver, body_json, sign

SCHEDULE_MS = [300, 600, 900, 1200, 1500, 1800, 2100]
VECTOR = {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
          "ts": "1614265330", "body": b'{"test": 2432232314}',
          "sig": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}


@pytest.fixture(scope="module")
def rcv():
    r = Receiver()
    yield r
    r.close()


def create(client, rcv, path, script=(), default=204, types=None, headers=None, reply_headers=None):
    body = {"url": rcv.url(path), "description": "test " + path}
    if types is not None:
        body["event_types"] = types
    if headers is not None:
        body["headers"] = headers
    r = client.post("/v1/webhooks/endpoints", body)
    assert r.status_code == 201, r.text
    ep = r.json()
    rcv.route(path, [ep["secret"]], script, default, headers=reply_headers)
    return ep


def wait_delivery(client, pred, timeout=40, **filters):
    end = time.time() + timeout
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    items = []
    while time.time() < end:
        r = client.get("/v1/webhooks/deliveries?" + q)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if pred(items):
            return items
        time.sleep(0.1)
    raise AssertionError(f"deliveries never matched: {items}")


def emit(tenant, type_, data):
    out = atriumctl("jobs", "emit", "--tenant", tenant.id, "--type", type_, "--payload", json.dumps(data))
    return json.loads(out.stdout)


def test_receiver_signing_matches_the_standard_webhooks_vector():
    assert sign(VECTOR["secret"], VECTOR["id"], VECTOR["ts"], VECTOR["body"]) == VECTOR["sig"]
    assert sign(VECTOR["secret"], VECTOR["id"], VECTOR["ts"], VECTOR["body"]) != \
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="


def test_event_catalogue(tenant):
    r = tenant.owner.get("/v1/webhooks/event-types")
    assert r.status_code == 200
    types = {t["type"] for t in r.json()["items"]}
    assert {"flow.published", "flow.unpublished", "webhook.test"} <= types


def test_create_returns_a_whsec_secret_once(tenant, rcv):
    ep = create(tenant.owner, rcv, "/crud")
    assert ep["secret"].startswith("whsec_")
    assert len(base64.b64decode(ep["secret"][6:])) == 32
    r = tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}")
    assert r.status_code == 200 and "secret" not in r.json()
    assert ep["secret"] not in r.text
    listed = tenant.owner.get("/v1/webhooks/endpoints").json()["items"]
    assert ep["id"] in [e["id"] for e in listed]
    assert ep["secret"] not in json.dumps(listed)
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM secrets WHERE owner_table = 'webhook_endpoints' "
                    "AND owner_id = %s AND field = 'signing_secret'", (ep["id"],))
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT count(*) FROM webhook_endpoints WHERE headers::text LIKE %s "
                    "OR url LIKE %s", ("%whsec_%", "%whsec_%"))
        assert cur.fetchone()[0] == 0


@pytest.mark.parametrize("url,reason", [
    ("http://169.254.169.254/latest/meta-data", "metadata"),
    ("http://10.0.0.1/hook", "private"),
    ("http://[::ffff:169.254.169.254]/hook", "metadata"),
    ("http://[::ffff:10.0.0.1]/hook", "private"),
    ("http://167772161/hook", "private"),                 # 10.0.0.1 in decimal
    ("http://100.64.0.1/hook", "CGNAT"),
    ("http://[fd00:ec2::254]/hook", "ULA"),
    ("http://224.0.0.1/hook", "multicast"),
    ("ftp://example.com/hook", "https"),
])
def test_create_refuses_ssrf_targets_with_a_clear_reason(tenant, url, reason):
    r = tenant.owner.post("/v1/webhooks/endpoints", {"url": url})
    p = assert_problem(r, 422, "url")
    assert reason in json.dumps(p), p


def test_forbidden_headers_and_unknown_types_are_refused(tenant, rcv):
    for h in ("Host", "Content-Type", "webhook-signature", "Content-Length", "Proxy-Authorization"):
        r = tenant.owner.post("/v1/webhooks/endpoints", {"url": rcv.url("/x"), "headers": {h: "v"}})
        assert_problem(r, 422, f"headers.{h}")
    r = tenant.owner.post("/v1/webhooks/endpoints", {"url": rcv.url("/x"), "event_types": ["no.such"]})
    assert_problem(r, 422)


def test_sensitive_header_values_are_write_only_and_sent(tenant, rcv):
    token = "PLAINTEXT-CANARY-hdr-" + str(time.time_ns())
    ep = create(tenant.owner, rcv, "/hdr", headers={"Authorization": "Bearer " + token, "X-Plain": "shown"})
    assert ep["headers"] == {"Authorization": "********", "X-Plain": "shown"}
    got = tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}")
    assert token not in got.text
    r = tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    assert r.status_code == 202, r.text
    g = rcv.wait("/hdr", 1)[0]
    assert g["headers"]["authorization"] == "Bearer " + token
    assert g["headers"]["x-plain"] == "shown"
    assert g["valid"]


def test_roles_viewer_sees_nothing_developer_no_secret(tenant, rcv):
    ep = create(tenant.owner, rcv, "/roles")
    viewer, dev = tenant.as_role("viewer"), tenant.as_role("developer")
    assert_problem(viewer.get("/v1/webhooks/deliveries"), 403)
    assert_problem(viewer.get("/v1/webhooks/endpoints"), 403)
    assert_problem(tenant.as_role("creator").get("/v1/webhooks/deliveries"), 403)
    assert dev.get("/v1/webhooks/deliveries").status_code == 200
    assert_problem(dev.get(f"/v1/webhooks/endpoints/{ep['id']}/secret"), 403)
    assert_problem(dev.post(f"/v1/webhooks/endpoints/{ep['id']}/rotate-secret"), 403)
    r = dev.post("/v1/webhooks/endpoints", {"url": rcv.url("/dev")})
    assert r.status_code == 201


def test_reveal_for_owner_is_audited(tenant, rcv):
    ep = create(tenant.owner, rcv, "/reveal")
    r = tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}/secret")
    assert r.status_code == 200 and r.json()["secret"] == ep["secret"]
    assert tenant.as_role("admin").get(f"/v1/webhooks/endpoints/{ep['id']}/secret").status_code == 200
    log = tenant.owner.get("/v1/audit-log?limit=200").json()["items"]
    assert any(x["action"] == "reveal" for x in log), log


def test_other_tenant_gets_404(tenant, other, rcv):
    ep = create(tenant.owner, rcv, "/iso")
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    rcv.wait("/iso", 1)
    d = wait_delivery(tenant.owner, lambda it: len(it) == 1, endpoint_id=ep["id"])[0]
    for path in (f"/v1/webhooks/endpoints/{ep['id']}", f"/v1/webhooks/deliveries/{d['id']}"):
        assert_problem(other.owner.get(path), 404)
    assert_problem(other.owner.post(f"/v1/webhooks/deliveries/{d['id']}/retry"), 404)
    assert_problem(other.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test"), 404)
    assert_problem(other.owner.delete(f"/v1/webhooks/endpoints/{ep['id']}"), 404)
    assert other.owner.get(f"/v1/webhooks/deliveries?endpoint_id={ep['id']}").json()["items"] == []


def test_test_event_is_delivered_signed_with_the_spec_body(tenant, rcv):
    ep = create(tenant.owner, rcv, "/signed")
    ev = tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test").json()["event_id"]
    g = rcv.wait("/signed", 1)[0]
    assert g["valid"], g["headers"]
    assert g["headers"]["webhook-id"] == ev
    assert abs(int(g["headers"]["webhook-timestamp"]) - time.time()) < 60
    b = body_json(g)
    assert set(b) == {"type", "timestamp", "data"} and b["type"] == "webhook.test"
    assert b["data"]["endpoint_id"] == ep["id"]
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "succeeded", endpoint_id=ep["id"])[0]
    full = tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json()
    assert full["attempts"] == 1 and full["attempts_log"][0]["status_code"] == 204
    assert full["attempts_log"][0]["trigger"] == "scheduled"


def test_subscription_filter_and_inactive_endpoints(tenant, rcv):
    sub = create(tenant.owner, rcv, "/sub-flow", types=["flow.published"])
    other = create(tenant.owner, rcv, "/sub-other", types=["flow.unpublished"])
    off = create(tenant.owner, rcv, "/sub-off", types=["flow.published"])
    assert tenant.owner.patch(f"/v1/webhooks/endpoints/{off['id']}", {"active": False}).status_code == 200
    emit(tenant, "flow.published", {"flow_id": "f1"})
    g = rcv.wait("/sub-flow", 1)[0]
    assert g["valid"] and body_json(g)["type"] == "flow.published"
    time.sleep(1)
    assert rcv.for_path("/sub-other") == [] and rcv.for_path("/sub-off") == []
    assert other["id"] and sub["id"]


def test_fails_n_times_then_succeeds_with_backoff_and_one_webhook_id(tenant, rcv):
    ep = create(tenant.owner, rcv, "/flaky", script=[500, 503, 500])
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    got = rcv.wait("/flaky", 4)
    assert len({g["headers"]["webhook-id"] for g in got}) == 1
    assert all(g["valid"] for g in got)
    for i in range(1, 4):      # the gap before retry i is at least schedule[i-1] - 20 %
        assert got[i]["at"] - got[i - 1]["at"] >= SCHEDULE_MS[i - 1] * 0.8 / 1000, (i, got)
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "succeeded", endpoint_id=ep["id"])[0]
    full = tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json()
    assert [a["status_code"] for a in full["attempts_log"]] == [500, 503, 500, 204]
    assert [a["n"] for a in full["attempts_log"]] == [1, 2, 3, 4]
    assert full["attempts_log"][0]["response_excerpt"] == "ok"
    assert "receiver answered 500" in full["attempts_log"][0]["error"]


def test_always_failing_goes_dead_then_manual_retry_and_replay_deliver(tenant, rcv):
    ep = create(tenant.owner, rcv, "/dead", default=500)
    for _ in range(3):
        tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    dead = wait_delivery(tenant.owner, lambda it: len(it) == 3 and all(d["state"] == "dead" for d in it),
                         timeout=60, endpoint_id=ep["id"])
    assert all(d["attempts"] == len(SCHEDULE_MS) + 1 for d in dead)
    assert tenant.owner.get(f"/v1/webhooks/deliveries?endpoint_id={ep['id']}&state=dead").json()["items"]
    rcv.route("/dead", [ep["secret"]], (), 204)
    r = tenant.owner.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/retry")
    assert r.status_code == 202, r.text
    wait_delivery(tenant.owner, lambda it: any(d["id"] == dead[0]["id"] and d["state"] == "succeeded"
                                               for d in it), endpoint_id=ep["id"])
    full = tenant.owner.get(f"/v1/webhooks/deliveries/{dead[0]['id']}").json()
    assert full["attempts_log"][-1]["trigger"] == "manual" and full["attempts_log"][-1]["status_code"] == 204
    assert_problem(tenant.owner.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/retry"), 409)
    listed = json.loads(atriumctl("webhooks", "dead", "10000").stdout)      # the operator's view
    assert {d["id"] for d in dead[1:]} <= {d["id"] for d in listed}
    out = json.loads(atriumctl("webhooks", "retry", dead[1]["id"]).stdout)
    assert out["state"] == "pending"
    wait_delivery(tenant.owner, lambda it: any(d["id"] == dead[1]["id"] and d["state"] == "succeeded"
                                               for d in it), endpoint_id=ep["id"])
    assert atriumctl("webhooks", "retry", dead[1]["id"], check=False).returncode == 1   # not dead now
    r = tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/replay", {"since": None})
    assert r.status_code == 202 and r.json()["retried"] == 1, r.text
    wait_delivery(tenant.owner, lambda it: all(d["state"] == "succeeded" for d in it), endpoint_id=ep["id"])
    ok = [g for g in rcv.for_path("/dead") if g["valid"]]
    assert {g["headers"]["webhook-id"] for g in ok} == {d["event_id"] for d in dead}


def test_410_disables_the_endpoint(tenant, rcv):
    ep = create(tenant.owner, rcv, "/gone", default=410)
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "dead", endpoint_id=ep["id"])[0]
    assert d["attempts"] == 1
    cur = tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}").json()
    assert cur["active"] is False and "410" in cur["disabled_reason"]
    r = tenant.owner.patch(f"/v1/webhooks/endpoints/{ep['id']}", {"active": True})
    assert r.json()["active"] is True and r.json()["disabled_reason"] is None


def test_429_waits_for_retry_after(tenant, rcv):
    ep = create(tenant.owner, rcv, "/throttled", script=[429], reply_headers={"Retry-After": "2"})
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    got = rcv.wait("/throttled", 2, timeout=20)
    assert got[1]["at"] - got[0]["at"] >= 1.6, got     # Retry-After 2 s, minus jitter


def test_redirects_are_not_followed(tenant, rcv):
    ep = create(tenant.owner, rcv, "/redir", script=[302],
                reply_headers={"Location": "http://169.254.169.254/"})
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    got = rcv.wait("/redir", 2, timeout=20)
    assert len(got) == 2      # the retry came back here, nothing followed the Location
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "succeeded", endpoint_id=ep["id"])[0]
    full = tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json()
    assert full["attempts_log"][0]["status_code"] == 302
    assert "receiver answered 302" in full["attempts_log"][0]["error"]


def test_delivery_to_a_refused_address_is_stopped_by_the_guard(tenant, rcv):
    ep = create(tenant.owner, rcv, "/rebind")
    with pg("atrium_owner") as c, c.cursor() as cur:     # as if DNS now pointed at the metadata service
        cur.execute("UPDATE webhook_endpoints SET url = 'http://169.254.169.254/latest' WHERE id = %s",
                    (ep["id"],))
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["attempts"] >= 1, endpoint_id=ep["id"])[0]
    end = time.time() + 20      # the claim counts the attempt; its log row follows the refused call
    while not (full := tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json())["attempts_log"]:
        assert time.time() < end, full
        time.sleep(0.1)
    a0 = full["attempts_log"][0]
    assert a0["status_code"] == 0 and "SSRF guard" in a0["error"] and "metadata" in a0["error"], a0


def test_rotation_signs_with_old_and_new_keys(tenant, rcv):
    ep = create(tenant.owner, rcv, "/rot")
    r = tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/rotate-secret")
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != ep["secret"] and new.startswith("whsec_") and r.json()["old_expires_at"]
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    g = rcv.wait("/rot", 1)[0]
    sigs = g["headers"]["webhook-signature"].split(" ")
    assert len(sigs) == 2
    from webhook_receiver import verify
    assert verify([new], g["headers"], g["body"]) and verify([ep["secret"]], g["headers"], g["body"])
    assert tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}/secret").json()["secret"] == new


def test_attempt_payloads_are_redacted(tenant, rcv):
    ep = create(tenant.owner, rcv, "/redact", types=["flow.unpublished"])
    emit(tenant, "flow.unpublished", {"flow_id": "f", "email": "a@example.com",
                                      "nested": {"api_token": "tok", "phone": "+1555"}, "keep": 1})
    g = rcv.wait("/redact", 1)[0]
    assert body_json(g)["data"]["email"] == "a@example.com"      # the receiver gets the real data
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "succeeded", endpoint_id=ep["id"])[0]
    stored = tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json()["attempts_log"][0]["request_payload"]
    assert stored["email"] == "[redacted]" and stored["nested"]["api_token"] == "[redacted]"
    assert stored["nested"]["phone"] == "[redacted]" and stored["keep"] == 1


def test_delivery_filters_validate(tenant):
    assert_problem(tenant.owner.get("/v1/webhooks/deliveries?state=bogus"), 422)
    assert_problem(tenant.owner.get("/v1/webhooks/deliveries?endpoint_id=nope"), 422)
    assert_problem(tenant.owner.get("/v1/webhooks/deliveries?since=yesterday"), 422)
    r = tenant.owner.get("/v1/webhooks/deliveries?event_type=webhook.test&since=2020-01-01T00:00:00Z")
    assert r.status_code == 200


def test_delete_destroys_secrets(tenant, rcv):
    ep = create(tenant.owner, rcv, "/del", headers={"X-Api-Key": "PLAINTEXT-CANARY-del"})
    assert tenant.owner.delete(f"/v1/webhooks/endpoints/{ep['id']}").status_code == 204
    assert_problem(tenant.owner.get(f"/v1/webhooks/endpoints/{ep['id']}"), 404)
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM secrets WHERE owner_id = %s", (ep["id"],))
        assert cur.fetchone()[0] == 0


def test_janitor_purges_attempts_past_retention(tenant, rcv):
    ep = create(tenant.owner, rcv, "/purge")
    tenant.owner.post(f"/v1/webhooks/endpoints/{ep['id']}/test")
    d = wait_delivery(tenant.owner, lambda it: it and it[0]["state"] == "succeeded", endpoint_id=ep["id"])[0]
    with pg("atrium_owner") as c, c.cursor() as cur:
        cur.execute("INSERT INTO webhook_attempts (tenant_id, id, delivery_id, n, trigger, duration_ms, "
                    "request_payload, created_at) VALUES (%s, gen_random_uuid(), %s, 99, 'scheduled', 0, "
                    "'{}', now() - interval '400 days')", (tenant.id, d["id"]))
    end = time.time() + 30
    while time.time() < end:
        n = len(tenant.owner.get(f"/v1/webhooks/deliveries/{d['id']}").json()["attempts_log"])
        if n == 1:
            break
        time.sleep(0.5)
    assert n == 1, "the 400-day-old attempt was not purged"
