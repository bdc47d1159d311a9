-- 007_upload_accounting: the bytes and files that uploads hold against their tenant's quota
-- (storage_quotas) and their session's limits (upload_sessions), kept by triggers so that every
-- way an upload goes (termination, a rejected file, the expiry janitor, a session or asset
-- deleted) gives its bytes back. Runs as atrium_owner.
--
-- An upload holds its full Upload-Length from creation (so limits are judged before any byte is
-- stored); a completed upload keeps holding it while its media asset exists.

CREATE FUNCTION atrium_uploads_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.session_id IS NOT NULL THEN
            UPDATE upload_sessions SET used_files = used_files + 1,
                   used_bytes = used_bytes + NEW.upload_length
                WHERE tenant_id = NEW.tenant_id AND id = NEW.session_id;
        END IF;
        UPDATE storage_quotas SET used_bytes = used_bytes + NEW.upload_length
            WHERE tenant_id = NEW.tenant_id;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        -- an upload is bound to its session once, right after creation (fcgi/uploads.c)
        IF OLD.session_id IS NULL AND NEW.session_id IS NOT NULL THEN
            UPDATE upload_sessions SET used_files = used_files + 1,
                   used_bytes = used_bytes + NEW.upload_length
                WHERE tenant_id = NEW.tenant_id AND id = NEW.session_id;
        ELSIF OLD.session_id IS DISTINCT FROM NEW.session_id THEN
            RAISE EXCEPTION 'an upload''s session never changes' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    -- session first, then quota: the order in which a public creation locks them
    -- (upload_session_admit, then upload_limits_admit), so the two never deadlock
    IF OLD.session_id IS NOT NULL THEN
        UPDATE upload_sessions SET used_files = greatest(used_files - 1, 0),
               used_bytes = greatest(used_bytes - OLD.upload_length, 0)
            WHERE tenant_id = OLD.tenant_id AND id = OLD.session_id;
    END IF;
    UPDATE storage_quotas SET used_bytes = greatest(used_bytes - OLD.upload_length, 0)
        WHERE tenant_id = OLD.tenant_id;
    RETURN OLD;
END $$;

CREATE TRIGGER uploads_account_insert AFTER INSERT ON uploads
    FOR EACH ROW EXECUTE FUNCTION atrium_uploads_account();
CREATE TRIGGER uploads_account_session AFTER UPDATE OF session_id ON uploads
    FOR EACH ROW EXECUTE FUNCTION atrium_uploads_account();
CREATE TRIGGER uploads_account_delete AFTER DELETE ON uploads
    FOR EACH ROW EXECUTE FUNCTION atrium_uploads_account();

-- A deleted asset frees what its upload held.
CREATE FUNCTION atrium_media_asset_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.upload_id IS NOT NULL THEN
        DELETE FROM uploads WHERE tenant_id = OLD.tenant_id AND id = OLD.upload_id;
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER media_assets_release AFTER DELETE ON media_assets
    FOR EACH ROW EXECUTE FUNCTION atrium_media_asset_release();

