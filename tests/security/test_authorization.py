"""Authorization (SPEC §5, §1 invariants 4 and 7, §7).

HTTP: every non-public route refuses anonymous callers with 401 (also with
a bad body: authentication comes first), every superuser route refuses a
normal user with 403, a deactivated user gets 400 everywhere, and a normal
user cannot reach another user's data.

SQL: a login role in pgapp_caller cannot forge an identity with SET or
set_config, cannot read hashes, keys or sessions, cannot execute the
extension's internals; a role with no membership can execute nothing of
the extension (nothing is granted to PUBLIC)."""
import uuid

import pytest

from conftest import bearer, login

NOT_AUTH = {"detail": "Not authenticated"}
NO_PRIV = {"detail": "The user doesn't have enough privileges"}
SOME_UUID = "00000000-0000-0000-0000-000000000001"
PUBLIC_ROUTES = {
    ("POST", "/api/v1/login/access-token"), ("POST", "/api/v1/login/refresh-token"),
    ("POST", "/api/v1/password-recovery/{email}"), ("POST", "/api/v1/reset-password"),
    ("POST", "/api/v1/users/signup"), ("GET", "/api/v1/utils/health-check"),
    ("GET", "/api/v1/openapi.json"),
}


def unique_email(prefix="authz"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def make_user(api, superuser_token):
    email, password = unique_email(), "pw-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": email, "password": password}, headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    return {"email": email, "password": password, "id": r.json()["id"],
            "token": login(api, email, password)["access_token"]}


@pytest.fixture(scope="module")
def routes(dba_sql):
    rows = dba_sql("SELECT method || ' ' || path || ' ' || auth FROM api.routes WHERE builtin ORDER BY path, method")
    out = [tuple(line.split(" ")) for line in rows.splitlines()]
    assert len(out) >= 20
    return out


def concrete(path):
    return (path.replace("{item_id}", SOME_UUID).replace("{user_id}", SOME_UUID)
            .replace("{email}", "someone@example.com").replace("/api/v1", "", 1))


def call(api, method, path, token=None, body=None):
    headers = bearer(token) if token else {}
    if method in ("POST", "PUT", "PATCH"):
        return api.request(method, path, json=body if body is not None else {}, headers=headers)
    return api.request(method, path, headers=headers)


def test_public_routes_are_exactly_the_expected_ones(routes):
    public = {(m, p) for m, p, a in routes if a == "none"}
    assert public <= PUBLIC_ROUTES, public - PUBLIC_ROUTES


def test_every_protected_route_refuses_anonymous(api, routes):
    checked = 0
    for method, path, auth in routes:
        if auth == "none":
            continue
        for body in (None, {"title": "", "email": "bad", "password": "x"}, [1, 2]):
            r = call(api, method, concrete(path), body=body)
            assert r.status_code == 401, (method, path, body, r.text)
            assert r.json() == NOT_AUTH
            assert r.headers["WWW-Authenticate"] == "Bearer"
        # also with the trailing slash and with a malformed path parameter
        r = call(api, method, concrete(path) + "/")
        assert r.status_code == 401, (method, path, r.text)
        if "{" in path:
            r = call(api, method, path.replace("/api/v1", "", 1).replace("{item_id}", "x")
                     .replace("{user_id}", "x").replace("{email}", "x"))
            assert r.status_code == 401, (method, path, r.text)
        checked += 1
    assert checked >= 15


def test_superuser_routes_refuse_normal_users(api, routes, superuser_token):
    u = make_user(api, superuser_token)
    checked = 0
    for method, path, auth in routes:
        if auth != "superuser":
            continue
        r = call(api, method, concrete(path), token=u["token"], body={"email": "bad"})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json() == NO_PRIV
        checked += 1
    assert checked >= 5
    # and nothing happened: the user is still not a superuser
    assert api.get("/users/me", headers=bearer(u["token"])).json()["is_superuser"] is False


def test_deactivated_user_is_refused_everywhere(api, routes, superuser_token):
    u = make_user(api, superuser_token)
    r = api.patch(f"/users/{u['id']}", json={"is_active": False}, headers=bearer(superuser_token))
    assert r.status_code == 200
    checked = 0
    for method, path, auth in routes:
        if auth == "none":
            continue
        r = call(api, method, concrete(path), token=u["token"], body={"title": "x"})
        assert r.status_code == 400, (method, path, r.text)
        assert r.json() == {"detail": "Inactive user"}
        checked += 1
    assert checked >= 15
    # nothing was written on their behalf
    r = api.get("/items/", headers=bearer(superuser_token), params={"limit": 1000})
    assert all(i["owner_id"] != u["id"] for i in r.json()["data"])


def test_normal_user_cannot_reach_another_users_data(api, superuser_token):
    a = make_user(api, superuser_token)
    b = make_user(api, superuser_token)
    r = api.post("/items/", json={"title": "b's secret"}, headers=bearer(b["token"]))
    assert r.status_code == 200
    item = r.json()["id"]
    for method, body in (("GET", None), ("PUT", {"title": "stolen"}), ("DELETE", None)):
        r = api.request(method, f"/items/{item}", json=body, headers=bearer(a["token"]))
        assert r.status_code == 404 and r.json() == {"detail": "Item not found"}, (method, r.text)
    r = api.get("/items/", headers=bearer(a["token"]))
    assert all(i["id"] != item for i in r.json()["data"])
    r = api.get(f"/items/{item}", headers=bearer(b["token"]))
    assert r.status_code == 200 and r.json()["title"] == "b's secret"
    for method, body in (("GET", None), ("PATCH", {"full_name": "x"}), ("DELETE", None)):
        r = api.request(method, f"/users/{b['id']}", json=body, headers=bearer(a["token"]))
        assert r.status_code == 403 and r.json() == NO_PRIV, (method, r.text)
    r = api.get(f"/users/{b['id']}", headers=bearer(superuser_token))
    assert r.status_code == 200 and r.json()["full_name"] is None
    # a's token says nothing about b: a's own me
    assert api.get("/users/me", headers=bearer(a["token"])).json()["id"] == a["id"]


# --- SQL callers --------------------------------------------------------------

@pytest.fixture(scope="module")
def caller_role(dba_sql):
    role = "sec_caller_" + uuid.uuid4().hex[:8]
    dba_sql(f'CREATE ROLE "{role}" LOGIN IN ROLE pgapp_caller')
    yield role
    dba_sql(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


@pytest.fixture(scope="module")
def bare_role(dba_sql):
    role = "sec_bare_" + uuid.uuid4().hex[:8]
    dba_sql(f'CREATE ROLE "{role}" LOGIN')
    yield role
    dba_sql(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


def as_role(dba_sql, role, query, **variables):
    return dba_sql(query, user=role, variables=variables)


def fails(dba_sql, role, query, **variables):
    proc = dba_sql(query, user=role, check=False, variables=variables)
    assert proc.returncode != 0, (query, proc.stdout)
    return proc.stderr


def test_caller_cannot_forge_identity(api, superuser_token, dba_sql, caller_role):
    u = make_user(api, superuser_token)
    forged = f'{{"sub": "{u["id"]}", "role": "authenticated"}}'
    attempts = [
        "SET pgapp.user_id = :'uid'",
        "SET pgapp.current_user_id = :'uid'",
        "SET request.jwt.claims = :'claims'",
        "SELECT set_config('request.jwt.claims', :'claims', false)",
        "SELECT set_config('request.jwt.claim.sub', :'uid', false)",
        "SELECT set_config('pgapp.user_id', :'uid', false)",
        "SELECT set_config('pgapp.identity', :'uid', true)",
    ]
    for attempt in attempts:
        out = as_role(dba_sql, caller_role, f"""
            {attempt};
            SELECT coalesce(api.current_user_id()::text, 'NULL');
            SELECT count(*) FROM pgapp.users;""", uid=u["id"], claims=forged)
        assert out.splitlines()[-2:] == ["NULL", "0"], (attempt, out)
        err = fails(dba_sql, caller_role, f"{attempt}; SELECT api.me();", uid=u["id"], claims=forged)
        assert "Not authenticated" in err, (attempt, err)


def test_caller_with_a_token_sees_only_itself(api, superuser_token, dba_sql, caller_role):
    a = make_user(api, superuser_token)
    make_user(api, superuser_token)
    out = as_role(dba_sql, caller_role, """
        BEGIN;
        SELECT api.authenticate(:'tok') = :'uid'::uuid;
        SELECT count(*), bool_and(id = :'uid'::uuid) FROM pgapp.users;
        SELECT api.me()->>'email';
        COMMIT;
        SELECT coalesce(api.current_user_id()::text, 'NULL');""", tok=a["token"], uid=a["id"])
    assert out.splitlines() == ["t", "1|t", a["email"], "NULL"]


@pytest.mark.parametrize("table", ["pgapp.passwords", "pgapp.signing_keys", "pgapp.sessions",
                                   "pgapp.refresh_tokens", "pgapp.reset_tokens", "pgapp.mail_outbox",
                                   "pgapp.login_throttle", "pgapp.settings", "pgapp.keys"])
def test_caller_cannot_read_secrets(dba_sql, caller_role, table):
    err = fails(dba_sql, caller_role, f"SELECT * FROM {table} LIMIT 1")
    assert "permission denied" in err, err
    err = fails(dba_sql, caller_role, f"COPY (SELECT * FROM {table}) TO STDOUT")
    assert "permission denied" in err, err


def test_gateway_role_cannot_read_secrets(dba_sql):
    for table in ("pgapp.passwords", "pgapp.signing_keys", "pgapp.sessions", "pgapp.keys"):
        assert dba_sql("SELECT has_table_privilege('pgapp_gateway', :'t', 'SELECT')",
                       variables={"t": table}) == "f", table
        assert dba_sql("SELECT has_table_privilege('pgapp_caller', :'t', 'SELECT')",
                       variables={"t": table}) == "f", table
    assert dba_sql("SELECT has_column_privilege('pgapp_caller', 'pgapp.signing_keys', 'secret', 'SELECT')") == "f"


@pytest.mark.parametrize("call", [
    "SELECT pgapp.jwt_sign('{\"sub\": \"x\", \"exp\": 9999999999}')",
    "SELECT pgapp.trace('session_revoke', '{}')",
    "SELECT pgapp.traces_flush()",
    "SELECT pgapp.setup('')",
    "SELECT pgapp.password_hash('password-1', 4)",
    "SELECT pgapp.password_verify('x', '$2a$04$abcdefghijklmnopqrstuv')",
    "SELECT pgapp.key_add(repeat('k', 40))",
    "SELECT pgapp.key_import('\\x00'::bytea)",
    "SELECT pgapp.key_retire('x')",
    "SELECT pgapp.key_apply(repeat('k', 40))",
    "SELECT pgapp.jwt_hmac('x', '\\x00'::bytea, 'HS256')",
    "SELECT pgapp.login_core('a@example.com', 'password-1', NULL)",
    "SELECT pgapp.issue_tokens(gen_random_uuid(), gen_random_uuid())",
    "SELECT pgapp.set_password(gen_random_uuid(), 'password-1')",
    "SELECT pgapp.revoke_sessions(gen_random_uuid())",
    "SELECT pgapp.logout_identity()",
    "SELECT pgapp.trace_apply('session_revoke', '{}', 1)",
    "SELECT pgapp.prune()",
    "SELECT pgapp.random_token(16)",
    "SELECT * FROM api.dispatch(1, '/', NULL, NULL, NULL, NULL, NULL)",
    "SELECT * FROM api.route_list()",
])
def test_caller_cannot_execute_internals(dba_sql, caller_role, call):
    err = fails(dba_sql, caller_role, call)
    assert "permission denied" in err, err


def test_gateway_role_cannot_take_a_session_identity_or_run_setup(dba_sql):
    # pgapp_gateway may execute the dispatcher and the handlers, not setup or key functions
    for fn in ("pgapp.setup(text)", "pgapp.key_add(text,text)", "pgapp.jwt_sign(jsonb)",
               "pgapp.password_hash(text,integer)", "pgapp.key_retire(text)"):
        assert dba_sql("SELECT has_function_privilege('pgapp_gateway', :'f', 'EXECUTE')",
                       variables={"f": fn}) == "f", fn


def test_nothing_is_executable_by_public(dba_sql, bare_role):
    leaked = dba_sql("""
        SELECT string_agg(p.oid::regprocedure::text, ', ')
          FROM pg_proc p
          JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pgapp'
         WHERE has_function_privilege(:'r', p.oid, 'EXECUTE')""", variables={"r": bare_role})
    assert leaked == "", f"executable by a role with no membership: {leaked}"
    total = dba_sql("""
        SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('api', 'pgapp')""")
    assert int(total) > 30
    # also by schema, in case something escaped extension membership
    leaked = dba_sql("""
        SELECT string_agg(p.oid::regprocedure::text, ', ')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('api', 'pgapp') AND has_function_privilege(:'r', p.oid, 'EXECUTE')""",
                     variables={"r": bare_role})
    assert leaked == "", leaked
    tables = dba_sql("""
        SELECT string_agg(c.oid::regclass::text, ', ')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'm', 'p', 'S')
           AND (has_table_privilege(:'r', c.oid, 'SELECT') OR has_table_privilege(:'r', c.oid, 'INSERT')
                OR has_table_privilege(:'r', c.oid, 'UPDATE') OR has_table_privilege(:'r', c.oid, 'DELETE'))""",
                     variables={"r": bare_role})
    assert tables == "", tables
    # the proof by attempt
    err = fails(dba_sql, bare_role, "SELECT api.signup('bare@example.com', 'password-1')")
    assert "permission denied" in err, err
    err = fails(dba_sql, bare_role, "SELECT api.current_user_id()")
    assert "permission denied" in err, err


def test_security_definer_functions_pin_search_path(dba_sql):
    bad = dba_sql("""
        SELECT string_agg(p.oid::regprocedure::text, ', ')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname IN ('api', 'pgapp') AND p.prosecdef
           AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search\\_path=%')""")
    assert bad == "", bad


def test_owner_is_not_privileged(dba_sql):
    assert dba_sql("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'pgapp_owner'") == "f"
    assert dba_sql("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'pgapp_gateway_login'") == "f"
    owners = dba_sql("""
        SELECT string_agg(DISTINCT pg_get_userbyid(p.proowner), ',')
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname IN ('api', 'pgapp')""")
    assert owners == "pgapp_owner"
