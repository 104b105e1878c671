-- Identity (extension/src/identity.c): kept in backend memory, set only by
-- verifying a token in C.  Every reader is PARALLEL RESTRICTED: parallel
-- workers do not share the leader's memory.

CREATE FUNCTION api.authenticate(token text, session boolean DEFAULT false) RETURNS uuid
AS 'MODULE_PATHNAME', 'authenticate' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION api.authenticate(text, boolean) IS
'verify an access token and take on its user for the current transaction (session => true: for the rest of the session)';

CREATE FUNCTION api.current_user_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'current_user_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION api.current_user_id() IS 'the authenticated user, or NULL';

CREATE FUNCTION pgapp.current_user_is_superuser() RETURNS boolean
AS 'MODULE_PATHNAME', 'current_user_is_superuser' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.current_user_is_superuser() IS 'is the authenticated user a pgapp superuser (false when anonymous)';

CREATE FUNCTION pgapp.current_session_id() RETURNS uuid
AS 'MODULE_PATHNAME', 'current_session_id' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.current_session_id() IS 'the login session of the authenticated user, or NULL';

CREATE FUNCTION pgapp.logout_identity() RETURNS void
AS 'MODULE_PATHNAME', 'logout_identity' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION pgapp.logout_identity() IS 'forget the identity of this backend (after logout)';

CREATE FUNCTION pgapp.trace(kind text, payload jsonb) RETURNS void
AS 'MODULE_PATHNAME', 'trace' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION pgapp.trace(text, jsonb) IS
'queue a trace that must survive the failing request (written by pgapp.trace_apply after the rollback)';

CREATE FUNCTION pgapp.traces_flush() RETURNS void
AS 'MODULE_PATHNAME', 'traces_flush' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION pgapp.traces_flush() IS 'write the queued traces now';
