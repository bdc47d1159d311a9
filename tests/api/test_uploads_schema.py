"""Migration 005 (upload sessions, uploads, media assets, quotas): tenant isolation by RLS for the
request role, the state/reason rule, derived-key-safe fields, and the bindings to flow versions.
These tables have no HTTP surface yet (see README: uploads); the tests talk to PostgreSQL."""
import uuid

import psycopg2
import pytest

from conftest import SIMPLE_FLOW, pg


def _as_tenant(conn, tenant_id):
    cur = conn.cursor()
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_id,))
    return cur


def _asset(cur, tenant_id, **kw):
    row = dict(id=str(uuid.uuid4()), filename="photo.png", mime="image/png", kind="image", size=10,
               state="uploaded", reason=None)
    row.update(kw)
    cur.execute("INSERT INTO media_assets (tenant_id, id, filename, mime, kind, size, state, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (tenant_id, row["id"], row["filename"], row["mime"], row["kind"], row["size"],
                 row["state"], row["reason"]))
    return row["id"]


def test_media_assets_are_isolated_by_tenant(tenant, other):
    """An asset inserted under tenant A is invisible with tenant B set, and B cannot insert rows
    that claim A's tenant_id (RLS WITH CHECK)."""
    with pg() as conn:
        cur = _as_tenant(conn, tenant.id)
        aid = _asset(cur, tenant.id)
        conn.commit()
    with pg() as conn:
        cur = _as_tenant(conn, other.id)
        cur.execute("SELECT count(*) FROM media_assets WHERE id = %s", (aid,))
        assert cur.fetchone()[0] == 0
        with pytest.raises(psycopg2.Error) as e:
            _asset(cur, tenant.id)
        assert "row-level security" in str(e.value)
        conn.rollback()
    with pg() as conn:
        cur = _as_tenant(conn, tenant.id)
        cur.execute("SELECT state FROM media_assets WHERE id = %s", (aid,))
        assert cur.fetchone()[0] == "uploaded"


@pytest.mark.parametrize("kw", [
    dict(state="rejected"),                        # rejected needs a reason
    dict(state="ready", reason="type_mismatch"),   # a reason only with rejected
    dict(state="deleted"),
    dict(kind="script"),
    dict(size=0),
    dict(filename=""),
    dict(reason="Bad Reason!", state="rejected"),
])
def test_media_asset_constraints(tenant, kw):
    """Impossible asset rows are refused by the schema itself."""
    with pg() as conn:
        cur = _as_tenant(conn, tenant.id)
        with pytest.raises(psycopg2.IntegrityError):
            _asset(cur, tenant.id, **kw)
        conn.rollback()


def test_sessions_bind_to_a_published_version(tenant):
    """A session row must name an existing flow version of its tenant; uploads are bounded by
    their length and cascade with their session."""
    r = tenant.owner.post("/v1/flows", SIMPLE_FLOW)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert tenant.owner.post(f"/v1/flows/{fid}/publish").status_code in (200, 201)
    sid, uid = str(uuid.uuid4()), str(uuid.uuid4())
    with pg() as conn:
        cur = _as_tenant(conn, tenant.id)
        with pytest.raises(psycopg2.IntegrityError):
            cur.execute("INSERT INTO upload_sessions (tenant_id, id, flow_id, flow_version, max_files,"
                        " max_total_bytes, expires_at) VALUES (%s, %s, %s, 99, 1, 1, now())",
                        (tenant.id, sid, fid))
        conn.rollback()
        cur = _as_tenant(conn, tenant.id)
        cur.execute("INSERT INTO upload_sessions (tenant_id, id, flow_id, flow_version, max_files,"
                    " max_total_bytes, expires_at) VALUES (%s, %s, %s, 1, 5, 1000, now())",
                    (tenant.id, sid, fid))
        cur.execute("INSERT INTO uploads (tenant_id, id, session_id, filename, upload_length,"
                    " expires_at) VALUES (%s, %s, %s, 'a.png', 100, now())", (tenant.id, uid, sid))
        with pytest.raises(psycopg2.IntegrityError):
            cur.execute("UPDATE uploads SET upload_offset = 101 WHERE tenant_id = %s AND id = %s",
                        (tenant.id, uid))
        conn.rollback()
        cur = _as_tenant(conn, tenant.id)
        cur.execute("INSERT INTO upload_sessions (tenant_id, id, flow_id, flow_version, max_files,"
                    " max_total_bytes, expires_at) VALUES (%s, %s, %s, 1, 5, 1000, now())",
                    (tenant.id, sid, fid))
        cur.execute("INSERT INTO uploads (tenant_id, id, session_id, filename, upload_length,"
                    " expires_at) VALUES (%s, %s, %s, 'a.png', 100, now())", (tenant.id, uid, sid))
        cur.execute("DELETE FROM upload_sessions WHERE tenant_id = %s AND id = %s", (tenant.id, sid))
        cur.execute("SELECT count(*) FROM uploads WHERE tenant_id = %s AND id = %s", (tenant.id, uid))
        assert cur.fetchone()[0] == 0
        conn.rollback()
