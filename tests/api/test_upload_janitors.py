"""atrium-media's janitors of the small upload rows (services/uploads_janitor.c, sql/010): an
expired upload session goes once nothing refers to it (no upload, open or kept, and no asset), and
a signed upload URL's row goes once the URL has expired, spent or not; both only after a grace past
their expiry, and without changing what the tenant's quota holds. Rows are made to expire by moving
their timestamps, as the expired-upload janitor's test does (tests/api/test_media_flow.py)."""
import os
import time

import psycopg2
import pytest

from conftest import ROOT, Client, Tenant, pg
from test_public_uploads import create, published_flow, start_session
from test_uploads_single import PNG, new_url, put

with open(os.path.join(ROOT, "tests", "fixtures", "media", "plain.png"), "rb") as _f:
    IMAGE = _f.read()         # a real PNG: atrium-media makes it ready (the 1x1 PNG is "corrupt")
FLOW = {"name": "Janitor", "steps": [{"key": "files", "fields": [
    {"key": "photo", "label": "Photo", "type": "file", "accept": ["image/png"]}]}]}

PAST = "now() - interval '1 day'"          # well past the janitor's grace (ROW_GRACE_S, 600 s)
IN_GRACE = "now() - interval '1 minute'"   # expired, but within the grace


def expire(table, rid, when):
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute(f"UPDATE {table} SET expires_at = {when} WHERE id = %s", (rid,))
        assert cur.rowcount == 1, (table, rid)


def exists(table, rid):
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table} WHERE id = %s", (rid,))
        return cur.fetchone()[0] == 1


def used_bytes(tenant):
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT used_bytes FROM storage_quotas WHERE tenant_id = %s", (tenant.id,))
        return cur.fetchone()[0]


def wait_gone(table, rid, timeout=90):
    """atrium-media's sweeper runs the janitors every 10 sweeps: poll until the row is gone."""
    end = time.time() + timeout
    while exists(table, rid) and time.time() < end:
        time.sleep(0.2)
    assert not exists(table, rid), f"{table} {rid} still there after {timeout} s"


def wait_ready(tenant, asset, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        state = tenant.owner.get(f"/v1/media/{asset}").json()["state"]
        if state in ("ready", "rejected"):
            break
        time.sleep(0.1)
    assert state == "ready", state


@pytest.fixture(scope="module")
def sessions():
    """Sessions of one tenant: empty, with an open upload, with a kept asset, within the grace."""
    t, c = Tenant(), Client(source="127.0.0.22")
    fid = published_flow(t, FLOW)
    s = {k: start_session(c, fid) for k in ("empty", "open", "kept", "grace")}
    r = create(c, s["open"]["token"], 1000)
    assert r.status_code == 201, r.text
    s["open_upload"] = r.headers["Location"].rsplit("/", 1)[1]
    r = create(c, s["kept"]["token"], len(IMAGE), data=IMAGE)
    assert r.status_code == 201, r.text
    s["asset"] = r.headers["Atrium-Asset-Id"]
    wait_ready(t, s["asset"])         # then its upload's charge stays while the asset exists
    before = used_bytes(t)
    for k in ("empty", "open", "kept"):
        expire("upload_sessions", s[k]["id"], PAST)
    expire("upload_sessions", s["grace"]["id"], IN_GRACE)
    wait_gone("upload_sessions", s["empty"]["id"])
    return t, s, before


def test_expired_session_nothing_refers_to_is_removed(sessions):
    t, s, before = sessions
    assert not exists("upload_sessions", s["empty"]["id"])
    assert used_bytes(t) == before                         # it held nothing


def test_sessions_still_referred_to_or_in_grace_stay(sessions):
    """Found by the same sweep that removed the empty one (the finder skips them): a session with
    an open upload, one whose upload's asset is kept (deleting it would cascade to the upload and
    give its bytes back while the asset still holds them), one expired within the grace."""
    t, s, before = sessions
    for k in ("open", "kept", "grace"):
        assert exists("upload_sessions", s[k]["id"]), k
    assert exists("uploads", s["open_upload"])
    with pg("postgres") as c, c.cursor() as cur:
        cur.execute("SELECT session_id::text FROM media_assets WHERE id = %s", (s["asset"],))
        assert cur.fetchone()[0] == s["kept"]["id"]
    assert used_bytes(t) == before
    assert used_bytes(t) >= 1000 + len(IMAGE)              # both charges are still held


def test_session_goes_after_its_last_upload_expires(sessions):
    """The expired-upload janitor runs first in the same tick: once the open upload has expired
    and gone (its 1000 bytes given back), its session goes too."""
    t, s, before = sessions
    expire("uploads", s["open_upload"], "now() - interval '1 second'")
    wait_gone("uploads", s["open_upload"])
    wait_gone("upload_sessions", s["open"]["id"])
    assert used_bytes(t) == before - 1000
    assert exists("upload_sessions", s["kept"]["id"])


@pytest.fixture(scope="module")
def urls():
    """Signed upload URLs of one tenant: unspent and spent past their expiry, spent and live,
    unspent within the grace."""
    t = Tenant()
    u = {k: new_url(t.owner) for k in ("unspent", "spent", "live", "grace")}
    for k in ("spent", "live"):
        r = put(u[k]["url"], IMAGE)
        assert r.status_code == 201, r.text
        u[k]["asset"] = r.json()["id"]
        wait_ready(t, u[k]["asset"])
    before = used_bytes(t)
    for k in ("unspent", "spent"):
        expire("upload_urls", u[k]["id"], PAST)
    expire("upload_urls", u["grace"]["id"], IN_GRACE)
    wait_gone("upload_urls", u["unspent"]["id"])
    wait_gone("upload_urls", u["spent"]["id"])
    return t, u, before


def test_expired_upload_urls_are_removed_spent_or_not(urls):
    t, u, before = urls
    assert not exists("upload_urls", u["unspent"]["id"])
    assert not exists("upload_urls", u["spent"]["id"])
    # the asset its PUT created lives on, and holds its bytes as before
    assert t.owner.get(f"/v1/media/{u['spent']['asset']}").status_code == 200
    assert used_bytes(t) == before


def test_live_or_in_grace_upload_urls_stay(urls):
    """A spent URL that has not expired keeps its row: a second PUT is told 410, not 403."""
    t, u, _ = urls
    assert exists("upload_urls", u["live"]["id"]) and exists("upload_urls", u["grace"]["id"])
    r = put(u["live"]["url"], PNG)
    assert r.status_code == 410, r.text
    assert t.owner.get(f"/v1/media/{u['live']['asset']}").json()["state"] == "ready"


def test_finders_are_the_workers_only():
    """The finders read across tenants (SECURITY DEFINER): atrium_app may not call them, and what
    atrium_worker gets is ids only."""
    for fn in ("atrium_expired_upload_sessions", "atrium_expired_upload_urls"):
        with pg() as c, c.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"SELECT * FROM {fn}(10, 0)")
        with pg("atrium_worker") as c, c.cursor() as cur:
            cur.execute(f"SELECT * FROM {fn}(10, 0)")
            assert [d.name for d in cur.description] == ["tenant_id", "id"]
