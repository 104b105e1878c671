"""The EXECUTE privilege on a route's handler is enforced (SPEC §7:
pgapp_gateway has "EXECUTE on what the gateway calls, nothing else").

api.dispatch calls handlers through fmgr, which checks no privilege; the
dispatcher checks, on every call, that the role calling it may execute the
handler, as the executor would.  A route whose handler the gateway may not
execute is a server-side misconfiguration: a generic 500, the permission
error in the gateway's log.  A GRANT or REVOKE takes effect at the next
request, without a catalog reload or a restart.

Whatever a test grants, revokes or adds is put back, also on failure."""
import contextlib
import os
import re
import sys
import uuid
from urllib.parse import urlsplit

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import gateway_database_url  # noqa: E402

from conftest import ROOT, wait_for  # noqa: E402

INTERNAL = {"detail": "Internal Server Error"}


def gateway_login_role():
    return urlsplit(gateway_database_url()).username


def permission_error(gateway_log, request_id, function, timeout=5.0):
    """The gateway's error line for that request, if it names the
    permission error (42501) for function within timeout."""
    pattern = re.compile(rf"rid={re.escape(request_id)} database error 42501: "
                         rf"ERROR:  permission denied for function {re.escape(function)}$")
    found = []

    def seen():
        with open(gateway_log, encoding="utf-8", errors="replace") as f:
            found[:] = [line for line in f.read().splitlines() if pattern.search(line)]
        return bool(found)
    return found[0] if wait_for(seen, timeout) else None


def assert_refused(r, gateway_log, function):
    """A generic 500; the reason is in the gateway's log only."""
    assert r.status_code == 500, r.text
    assert r.json() == INTERNAL
    rid = r.headers["X-Request-Id"]
    assert permission_error(gateway_log, rid, function), \
        f"no permission error for {function} (rid={rid}) in the gateway log"


@contextlib.contextmanager
def revoked(dba_sql, function):
    """EXECUTE on function revoked from pgapp_gateway, granted back after."""
    dba_sql(f"REVOKE EXECUTE ON FUNCTION {function} FROM pgapp_gateway")
    try:
        yield
    finally:
        dba_sql(f"GRANT EXECUTE ON FUNCTION {function} TO pgapp_gateway")


@pytest.fixture
def dba_route(dba_sql, base_url):
    """A route added by a DBA, GET /api/v1/grants-<tag>/hello, to a handler
    in its own schema that nobody but its owner may execute (the schema is
    usable by pgapp_gateway: EXECUTE is the only thing missing)."""
    tag = uuid.uuid4().hex[:8]
    schema = f"grants_{tag}"
    path = f"/api/v1/grants-{tag}/hello"
    try:
        dba_sql(f"""
            CREATE SCHEMA {schema};
            CREATE FUNCTION {schema}.hello() RETURNS jsonb LANGUAGE sql STABLE
                AS $$ SELECT '{{"hello": true}}'::jsonb $$;
            REVOKE EXECUTE ON FUNCTION {schema}.hello() FROM PUBLIC;
            GRANT USAGE ON SCHEMA {schema} TO pgapp_gateway;
            INSERT INTO api.routes (method, path, handler, auth, params)
            VALUES ('GET', '{path}', '{schema}.hello()', 'none', '[]');
        """)
        # the gateway loads the catalog on NOTIFY, asynchronously
        assert wait_for(lambda: requests.get(base_url + path, timeout=5).status_code != 404, 15), \
            "the route added with SQL was not served within 15 s"
        yield {"url": base_url + path, "function": f"{schema}.hello()", "name": "hello"}
    finally:
        dba_sql(f"DELETE FROM api.routes WHERE path = '{path}'; DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_route_to_a_handler_not_granted_is_refused_until_granted(dba_sql, dba_route, gateway_log):
    r = requests.get(dba_route["url"], timeout=10)
    assert_refused(r, gateway_log, dba_route["name"])

    # the privilege is checked on each call: the GRANT holds at the next
    # request, no reload, no restart
    dba_sql(f"GRANT EXECUTE ON FUNCTION {dba_route['function']} TO pgapp_gateway")
    r = requests.get(dba_route["url"], timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"hello": True}

    dba_sql(f"REVOKE EXECUTE ON FUNCTION {dba_route['function']} FROM pgapp_gateway")
    assert_refused(requests.get(dba_route["url"], timeout=10), gateway_log, dba_route["name"])


def test_revoking_a_builtin_handler_stops_its_route_at_once(api, dba_sql, gateway_log):
    with revoked(dba_sql, "api.health_check()"):
        assert_refused(api.get("/utils/health-check/"), gateway_log, "health_check")
    r = api.get("/utils/health-check/")
    assert r.status_code == 200, r.text
    assert r.json() is True


def test_revoked_signup_is_refused_before_it_runs(api, dba_sql, gateway_log):
    body = {"email": f"grants-{uuid.uuid4().hex[:12]}@example.com",
            "password": "pw-" + uuid.uuid4().hex}
    with revoked(dba_sql, "api.signup(text, text, text)"):
        assert_refused(api.post("/users/signup", json=body), gateway_log, "signup")
    assert dba_sql("SELECT count(*) FROM pgapp.users WHERE lower(email) = lower(:'e')",
                   variables={"e": body["email"]}) == "0"
    # granted back: the same signup succeeds (the refused one created nothing)
    r = api.post("/users/signup", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == body["email"]


def gateway_statements_functions():
    """The extension functions named in the gateway's SQL (string literals
    of gateway/src): what it prepares and runs."""
    names = set()
    src = os.path.join(ROOT, "gateway", "src")
    for name in sorted(os.listdir(src)):
        if not name.endswith(".c"):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', f.read()):
                names.update(re.findall(r"\b((?:api|pgapp)\.[a-z_][a-z0-9_]*)\s*\(", literal))
    return names


@pytest.mark.parametrize("role", ["pgapp_gateway", "login"])
def test_gateway_executes_the_handlers_and_its_own_statements_only(dba_sql, role):
    role = gateway_login_role() if role == "login" else role
    called = gateway_statements_functions()
    assert {"api.dispatch", "api.route_list"} <= called, called

    # every route's handler is executable by the gateway (else it is a 500)
    missing = dba_sql("""
        SELECT string_agg(DISTINCT handler::text, ', ') FROM api.routes
         WHERE NOT has_function_privilege(:'r', handler, 'EXECUTE')""", variables={"r": role})
    assert missing == "", f"{role} may not execute these handlers: {missing}"

    # and nothing else beyond what PUBLIC may execute anyway
    actual = set(dba_sql("""
        SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE has_function_privilege(:'r', p.oid, 'EXECUTE')
           AND NOT has_function_privilege('public', p.oid, 'EXECUTE')""",
                         variables={"r": role}).splitlines())
    expected = set(dba_sql("""
        SELECT handler::text FROM api.routes
         WHERE NOT has_function_privilege('public', handler, 'EXECUTE')
        UNION
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname || '.' || p.proname = ANY (string_to_array(:'called', ','))""",
                           variables={"called": ",".join(sorted(called))}).splitlines())
    assert "api.dispatch(integer,text,text,text,text,text,text)" in expected
    extra = actual - expected
    assert extra == set(), f"{role} may execute more than the gateway calls: {sorted(extra)}"
    assert expected <= actual


def test_gateway_roles_read_no_table(dba_sql):
    """Why the gateway needs no function that policies call (1.2 granted it
    api.current_user_id() and pgapp.current_user_is_superuser(); 1.3
    revokes them): a policy runs only for a role that reads the table, and
    the gateway's roles read none (handlers do, as pgapp_owner)."""
    for role in ("pgapp_gateway", gateway_login_role()):
        tables = dba_sql("""
            SELECT string_agg(c.oid::regclass::text, ', ') FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('api', 'pgapp') AND c.relkind IN ('r', 'v', 'm', 'p')
               AND has_table_privilege(:'r', c.oid, 'SELECT, INSERT, UPDATE, DELETE')""",
                         variables={"r": role})
        assert tables == "", f"{role} can reach {tables}"


def test_route_whose_handler_was_renamed_is_a_500_and_the_others_serve(
        api, base_url, dba_sql, dba_route, gateway_log):
    """A route holds its handler's signature (1.6: text, not regprocedure,
    which pg_upgrade refuses).  A handler renamed (or dropped) after its
    route was added names no function: that route is misconfigured, a
    generic 500 with 22023 in the gateway's log (before, the row fell out of
    the dispatcher's cache: a 404 and a catalog reload on every request);
    the other routes and readiness are untouched; the function back under
    its name serves the route again."""
    function = dba_route["function"]
    schema = function.split(".")[0]
    dba_sql(f"GRANT EXECUTE ON FUNCTION {function} TO pgapp_gateway")
    assert requests.get(dba_route["url"], timeout=10).status_code == 200

    dba_sql(f"ALTER FUNCTION {function} RENAME TO hello_renamed")
    try:
        r = requests.get(dba_route["url"], timeout=10)
        assert r.status_code == 500, r.text
        assert r.json() == INTERNAL
        rid = r.headers["X-Request-Id"]
        pattern = re.compile(rf"rid={re.escape(rid)} database error 22023: ERROR:  route \d+ is misconfigured$")

        def logged():
            with open(gateway_log, encoding="utf-8", errors="replace") as f:
                return any(pattern.search(line) for line in f.read().splitlines())
        assert wait_for(logged, 5), f"no misconfiguration error (rid={rid}) in the gateway log"
        assert api.get("/utils/health-check/").status_code == 200
        assert requests.get(base_url + "/ready", timeout=10).status_code == 200
    finally:
        dba_sql(f"ALTER FUNCTION {schema}.hello_renamed() RENAME TO hello")
    r = requests.get(dba_route["url"], timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"hello": True}
