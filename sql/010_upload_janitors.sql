-- 010_upload_janitors: what atrium-media's janitor needs to find the small rows nothing else
-- removes: expired upload sessions nothing refers to, and signed upload URLs past their expiry
-- (services/uploads_janitor.c). Ids only, across tenants; each row is then deleted inside its own
-- tenant's transaction, under RLS, with the same conditions checked again. Runs as atrium_owner.
--
-- p_grace_s: how long past expires_at a row must be. Tokens and URL signatures are checked
-- against the application hosts' clocks, so a row goes only well after the last request that
-- could still have passed those checks.

-- A session goes only when nothing refers to it: no upload (open, or completed and holding its
-- bytes for a kept asset: deleting the session would cascade to it and give its charge back
-- while the asset still holds the bytes, sql/007_upload_accounting) and no asset (which records
-- its session, flow and version; a rejected asset keeps that record without an upload). Such a
-- session holds nothing against the quota, and its used_files/used_bytes are 0.
CREATE FUNCTION atrium_expired_upload_sessions(p_limit integer, p_grace_s integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.tenant_id, s.id FROM upload_sessions s
    WHERE s.expires_at < now() - make_interval(secs => greatest(p_grace_s, 0))
      AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.tenant_id = s.tenant_id AND u.session_id = s.id)
      AND NOT EXISTS (SELECT 1 FROM media_assets m
                      WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id)
    ORDER BY s.expires_at LIMIT least(greatest(p_limit, 1), 1000)
$$;

-- A signed upload URL's row, spent or not, once the URL has expired: until then a spent row
-- must stay, so that a second PUT is told 410 (used) rather than 403; after it nginx's signature
-- check refuses the URL before the row is read. The asset a spent URL created lives on its own.
CREATE FUNCTION atrium_expired_upload_urls(p_limit integer, p_grace_s integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.tenant_id, u.id FROM upload_urls u
    WHERE u.expires_at < now() - make_interval(secs => greatest(p_grace_s, 0))
    ORDER BY u.expires_at LIMIT least(greatest(p_limit, 1), 1000)
$$;

REVOKE ALL ON FUNCTION atrium_expired_upload_sessions(integer, integer),
    atrium_expired_upload_urls(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_expired_upload_sessions(integer, integer),
    atrium_expired_upload_urls(integer, integer) TO atrium_worker;
