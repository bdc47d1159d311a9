-- 008_media_downloads: what atrium-media's janitor and the download and delete routes need
-- (DESIGN §6, §8). Runs as atrium_owner.

-- A signed download URL names an asset id, not its tenant: after its signature is checked, this
-- finds the tenant of a ready asset (nothing else), so the request can set it before reading.
CREATE FUNCTION atrium_ready_media_tenant(p_asset uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.tenant_id FROM media_assets a WHERE a.id = p_asset AND a.state = 'ready'
$$;

-- atrium-media's janitor: unfinished uploads whose Upload-Expires has passed, oldest first,
-- across tenants (ids only; each is then removed inside its own tenant's transaction).
CREATE FUNCTION atrium_expired_uploads(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.tenant_id, u.id FROM uploads u
    WHERE u.completed_at IS NULL AND u.expires_at < now()
    ORDER BY u.expires_at LIMIT least(greatest(p_limit, 1), 1000)
$$;

REVOKE ALL ON FUNCTION atrium_ready_media_tenant(uuid), atrium_expired_uploads(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION atrium_ready_media_tenant(uuid) TO atrium_app;
GRANT EXECUTE ON FUNCTION atrium_expired_uploads(integer) TO atrium_worker;

-- DELETE /v1/media/{id} removes the asset's processing record with the asset.
GRANT DELETE ON media_results TO atrium_app;
