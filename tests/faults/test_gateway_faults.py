"""Gateway reliability (SPEC §9): database down and back, terminated
backends, catalog reload on NOTIFY, pool exhaustion, graceful stop, idle
and slow connections.

Test routes are added with SQL alone, as a DBA would (api.routes:
method, path, handler signature text, auth, params jsonb)."""
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import (Gateway, gateway_database_url, is_closed,  # noqa: E402
                             raw_request, read_response)

from conftest import cluster, wait_for  # noqa: E402

HEALTH = "/api/v1/utils/health-check/"
SLEEP_PATH = "/api/v1/gwtest/sleep/{seconds}"


def gateway_role():
    return urllib.parse.urlsplit(gateway_database_url()).username


@pytest.fixture(scope="module")
def sleep_route(dba_sql, base_url):
    """GET /api/v1/gwtest/sleep/{seconds}: sleeps, then {"slept": seconds}.
    NOTIFY is asynchronous (and an earlier fault test may have the listener
    reconnecting), so the route is waited for, within a bound."""
    dba_sql(f"""
        CREATE SCHEMA IF NOT EXISTS gwtest;
        CREATE OR REPLACE FUNCTION gwtest.sleep(seconds float8) RETURNS jsonb
            LANGUAGE sql VOLATILE AS $$
            SELECT jsonb_build_object('slept', seconds) FROM pg_sleep(seconds) $$;
        GRANT USAGE ON SCHEMA gwtest TO PUBLIC;
        GRANT EXECUTE ON FUNCTION gwtest.sleep(float8) TO PUBLIC;
        DELETE FROM api.routes WHERE path = '{SLEEP_PATH}';
        INSERT INTO api.routes (method, path, handler, auth, params)
        VALUES ('GET', '{SLEEP_PATH}', 'gwtest.sleep(float8)', 'none',
                '[{{"name": "seconds", "in": "path"}}]');
    """)
    assert wait_route(base_url, "/api/v1/gwtest/sleep/0", timeout=15), \
        "a route added with SQL was not served within 15 s"
    yield "/api/v1/gwtest/sleep/"
    dba_sql(f"DELETE FROM api.routes WHERE path = '{SLEEP_PATH}'; DROP SCHEMA gwtest CASCADE;")


def wait_route(url, path, timeout=10.0):
    return wait_for(lambda: requests.get(url + path, timeout=5).status_code == 200, timeout)


# ---- the database goes away and comes back ----

def test_database_stop_gives_503_fast_then_recovers(base_url):
    assert requests.get(base_url + HEALTH, timeout=5).status_code == 200
    cluster("stop", mode="immediate")
    try:
        for _ in range(5):
            t0 = time.monotonic()
            r = requests.get(base_url + HEALTH, timeout=5)
            elapsed = time.monotonic() - t0
            assert r.status_code == 503
            assert r.json() == {"detail": "Service Unavailable"}
            assert r.headers.get("Retry-After") == "1"
            assert elapsed < 0.5
        assert requests.get(base_url + "/ready", timeout=5).status_code == 503
        assert requests.get(base_url + "/live", timeout=5).status_code == 200
    finally:
        cluster("start")
    assert wait_route(base_url, HEALTH, timeout=15)
    assert requests.get(base_url + "/ready", timeout=5).status_code == 200


def test_ready_follows_the_database_on_a_quiet_gateway(base_url):
    """No API request while the database is away: /ready alone (what an
    orchestrator's probe sends) must see it go and come back.  It used to
    stay 200 until some request found the pooled connections dead."""
    def ready():
        return requests.get(base_url + "/ready", timeout=5).status_code

    assert wait_for(lambda: ready() == 200, 15)
    cluster("stop", mode="immediate")
    try:
        assert wait_for(lambda: ready() == 503, 5)
        assert requests.get(base_url + "/live", timeout=5).status_code == 200
    finally:
        cluster("start")
    assert wait_for(lambda: ready() == 200, 15)
    assert requests.get(base_url + HEALTH, timeout=5).status_code == 200


def test_gateway_started_before_the_database_waits_for_it(base_url):
    """SPEC §9: a gateway that has never reached its database serves /live,
    answers 503 meanwhile, and becomes ready once the database is up,
    without a restart of its own.  (base_url: the module's gateway, which
    loses its connections here too, is left ready for the next test.)"""
    cluster("stop", mode="immediate")
    g = Gateway()
    try:
        g.start(wait_ready=False)
        assert requests.get(g.url + "/live", timeout=5).status_code == 200
        assert requests.get(g.url + "/ready", timeout=5).status_code == 503
        r = requests.get(g.url + HEALTH, timeout=5)
        assert r.status_code == 503 and r.headers.get("Retry-After") == "1"
    finally:
        cluster("start")
    try:
        assert wait_for(lambda: requests.get(g.url + "/ready", timeout=5).status_code == 200, 15)
        assert requests.get(g.url + HEALTH, timeout=5).status_code == 200
    finally:
        assert g.stop() == 0
        assert wait_route(base_url, HEALTH, timeout=15)


def test_terminated_backends_recover(base_url, dba_sql, gateway_log):
    assert requests.get(base_url + HEALTH, timeout=5).status_code == 200
    with open(gateway_log, "rb") as f:
        f.seek(0, os.SEEK_END)
        log_start = f.tell()
    killed = dba_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE usename = :'role'", variables={"role": gateway_role()})
    assert int(killed) >= 1
    assert wait_route(base_url, HEALTH, timeout=10)
    # after recovery every request succeeds
    for _ in range(10):
        assert requests.get(base_url + HEALTH, timeout=5).status_code == 200

    # the backends' goodbye reaches the gateway log as its own lines, not raw
    def new_log():
        with open(gateway_log, "rb") as f:
            f.seek(log_start)
            return f.read().decode("utf-8", "replace").splitlines()
    assert wait_for(lambda: any(" warn database notice: FATAL:  terminating connection"
                                in line for line in new_log()), 5)
    assert not any(line.startswith(("FATAL:", "WARNING:")) for line in new_log())


def test_catalog_reloads_after_listener_terminated(base_url, dba_sql):
    """The listener LISTENs again after a reconnect: a route added after
    its backend was killed still appears."""
    path = f"/api/v1/gwtest-{uuid.uuid4().hex[:8]}"
    dba_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'role'",
            variables={"role": gateway_role()})
    time.sleep(0.5)
    try:
        dba_sql(f"INSERT INTO api.routes (method, path, handler, auth, params) VALUES "
                f"('GET', '{path}', (SELECT handler FROM api.routes WHERE method = 'GET' "
                f"AND path = '/api/v1/utils/health-check'), 'none', '[]')")
        assert wait_route(base_url, path, timeout=10)
    finally:
        dba_sql(f"DELETE FROM api.routes WHERE path = '{path}'")


# ---- the catalog changes at run time ----

def test_route_added_by_sql_is_served_without_restart(base_url, dba_sql, sleep_route):
    r = requests.get(base_url + sleep_route + "0", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"slept": 0}


def test_route_removed_by_sql_is_404(base_url, dba_sql):
    path = f"/api/v1/gwtest-{uuid.uuid4().hex[:8]}"
    dba_sql(f"INSERT INTO api.routes (method, path, handler, auth, params) VALUES "
            f"('GET', '{path}', (SELECT handler FROM api.routes WHERE method = 'GET' "
            f"AND path = '/api/v1/utils/health-check'), 'none', '[]')")
    assert wait_route(base_url, path, timeout=10)
    dba_sql(f"DELETE FROM api.routes WHERE path = '{path}'")
    assert wait_for(lambda: requests.get(base_url + path, timeout=5).status_code == 404, 10)


# ---- pool exhaustion ----

def test_pool_saturation_answers_503_quickly(sleep_route):
    with Gateway(GATEWAY_WORKERS=2, GATEWAY_POOL_WAIT_MS=300) as g:
        results = []

        def slow():
            results.append(requests.get(g.url + sleep_route + "3", timeout=20).status_code)

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.8)          # both connections are now busy
        t0 = time.monotonic()
        r = requests.get(g.url + sleep_route + "0", timeout=10)
        elapsed = time.monotonic() - t0
        assert r.status_code == 503
        assert r.headers.get("Retry-After") == "1"
        assert 0.25 <= elapsed < 1.5
        # the gateway itself still answers
        assert requests.get(g.url + "/live", timeout=5).status_code == 200
        for t in threads:
            t.join()
        assert results == [200, 200]
        assert requests.get(g.url + sleep_route + "0", timeout=10).status_code == 200


def test_a_busy_connection_does_not_hold_up_other_requests(sleep_route):
    """Two connections, one busy for 4 s: twelve quick requests on fresh
    client connections are all served by the other one at once (the pool
    is one FIFO; a request never waits for a particular connection)."""
    with Gateway(GATEWAY_WORKERS=2, GATEWAY_POOL_WAIT_MS=1000) as g:
        slow = []
        t = threading.Thread(target=lambda: slow.append(
            requests.get(g.url + sleep_route + "4", timeout=30).status_code))
        t.start()
        time.sleep(0.5)
        codes = [requests.get(g.url + sleep_route + "0", timeout=10).status_code
                 for _ in range(12)]
        assert codes == [200] * 12
        t.join()
        assert slow == [200]


# ---- connection limits ----

@pytest.mark.parametrize("limits", [{"GATEWAY_MAX_CONNS_PER_IP": "3"},
                                    {"GATEWAY_MAX_CONNS": "3", "GATEWAY_MAX_CONNS_PER_IP": "0"}],
                         ids=["per-address", "total"])
def test_connection_limit_refuses_then_frees(limits):
    """A limit of 3 (per address, or in all): a fourth connection is closed
    without an answer; a closed one frees its place."""
    with Gateway(**limits) as g:
        request = b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
        held = []
        try:
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
                s.sendall(request)
                assert read_response(s)[0] == 200        # kept alive
                held.append(s)
            for _ in range(3):
                assert raw_request(g.port, request, timeout=5)[0] is None
            held.pop().close()
            assert wait_for(lambda: raw_request(g.port, request, timeout=5)[0] == 200, 5)
        finally:
            for s in held:
                s.close()


# ---- graceful stop ----

def test_sigterm_drains_in_flight_requests(sleep_route):
    g = Gateway(GATEWAY_DRAIN_SECONDS=10)
    g.start()
    results = []

    def slow():
        r = requests.get(g.url + sleep_route + "2", timeout=20)
        results.append((r.status_code, r.json()))

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.7)
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    time.sleep(0.3)
    # no new connections once stopping
    with pytest.raises(requests.ConnectionError):
        requests.get(g.url + "/live", timeout=2)
    t.join()
    assert results == [(200, {"slept": 2})]
    assert g.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    g.stop()


SLOW_WRITE_PATH = "/api/v1/gwdrain/slow-write/{tag}/{seconds}"


@pytest.fixture(scope="module")
def slow_write_route(dba_sql, base_url):
    """GET /api/v1/gwdrain/slow-write/{tag}/{seconds}: writes tag into
    gwdrain.marks, then sleeps; the write commits only if the request
    completes."""
    dba_sql(f"""
        CREATE SCHEMA IF NOT EXISTS gwdrain;
        CREATE TABLE IF NOT EXISTS gwdrain.marks (tag text);
        CREATE OR REPLACE FUNCTION gwdrain.slow_write(tag text, seconds float8) RETURNS jsonb
            LANGUAGE sql VOLATILE AS $$
            INSERT INTO gwdrain.marks VALUES (tag);
            SELECT jsonb_build_object('slept', seconds) FROM pg_sleep(seconds) $$;
        GRANT USAGE ON SCHEMA gwdrain TO PUBLIC;
        GRANT INSERT ON gwdrain.marks TO PUBLIC;
        GRANT EXECUTE ON FUNCTION gwdrain.slow_write(text, float8) TO PUBLIC;
        DELETE FROM api.routes WHERE path = '{SLOW_WRITE_PATH}';
        INSERT INTO api.routes (method, path, handler, auth, params)
        VALUES ('GET', '{SLOW_WRITE_PATH}', 'gwdrain.slow_write(text, float8)',
                'none', '[{{"name": "tag", "in": "path"}}, {{"name": "seconds", "in": "path"}}]');
    """)
    assert wait_route(base_url, "/api/v1/gwdrain/slow-write/warm-up/0", timeout=15)
    yield "/api/v1/gwdrain/slow-write/"
    dba_sql(f"DELETE FROM api.routes WHERE path = '{SLOW_WRITE_PATH}'; DROP SCHEMA gwdrain CASCADE;")


def sleeping_gateway_backends(dba_sql):
    return int(dba_sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                       "AND usename = :'role'", variables={"role": gateway_role()}))


def test_sigterm_cancels_queries_running_past_the_drain_time(slow_write_route, dba_sql):
    """GATEWAY_DRAIN_SECONDS=2 and a request whose query runs 8 s: once
    the drain time is up the query is cancelled, so the process exits 0
    soon after (it used to wait the 8 s) and the unacknowledged write does
    not commit (it used to)."""
    g = Gateway(GATEWAY_DRAIN_SECONDS=2)
    g.start()
    tag = uuid.uuid4().hex
    results = []

    def slow():
        try:
            r = requests.get(g.url + slow_write_route + f"{tag}/8", timeout=20)
            results.append((r.status_code, r.headers.get("Retry-After")))
        except requests.RequestException as e:
            results.append(type(e).__name__)

    t = threading.Thread(target=slow)
    t.start()
    try:
        assert wait_for(lambda: sleeping_gateway_backends(dba_sql) == 1, 5)
        time.sleep(1)
        t0 = time.monotonic()
        g.signal(signal.SIGTERM)
        assert g.wait(timeout=15) == 0
        elapsed = time.monotonic() - t0
        assert 2 <= elapsed < 4.5, elapsed
        t.join(timeout=10)
        # nothing acknowledged, nothing kept: answered 503, the query gone
        assert results == [(503, "1")], results
        assert sleeping_gateway_backends(dba_sql) == 0
        assert dba_sql("SELECT count(*) FROM gwdrain.marks WHERE tag = :'tag'",
                       variables={"tag": tag}) == "0"
    finally:
        g.stop()
    assert "cancelling their queries" in g.log()


def test_answers_during_the_drain_close_keep_alive_connections(sleep_route):
    """While draining, every answer carries Connection: close, so a
    keep-alive client sends nothing more on that connection; a request it
    sends meanwhile is still served."""
    g = Gateway(GATEWAY_DRAIN_SECONDS=10)
    g.start()
    live = b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        idle = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        busy = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        with idle, busy:
            idle.sendall(live)
            status, headers, _ = read_response(idle)
            assert status == 200 and headers.get("connection", "").lower() != "close"
            busy.sendall(f"GET {sleep_route}2 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(0.7)
            g.signal(signal.SIGTERM)
            time.sleep(0.3)
            idle.sendall(live)
            status, headers, _ = read_response(idle)
            assert status == 200
            assert headers.get("connection", "").lower() == "close"
            assert is_closed(idle, 3)
            status, headers, body = read_response(busy)
            assert status == 200 and body == b'{"slept": 2}'
            assert headers.get("connection", "").lower() == "close"
        assert g.wait(timeout=15) == 0
    finally:
        g.stop()


def test_sigterm_when_idle_exits_0_fast():
    g = Gateway()
    g.start()
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    assert g.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 3
    g.stop()


# ---- idle and slow clients ----

def test_idle_connection_closed_after_timeout_others_served():
    with Gateway(GATEWAY_CONN_TIMEOUT=2, GATEWAY_REQUEST_DEADLINE=30) as g:
        idle = socket.create_connection(("127.0.0.1", g.port))
        try:
            assert not is_closed(idle, 1.0)           # not before the timeout
            assert requests.get(g.url + "/live", timeout=5).status_code == 200
            assert is_closed(idle, 4.0)               # closed soon after 2 s
        finally:
            idle.close()


def test_slowloris_trickle_is_cut_off():
    with Gateway(GATEWAY_CONN_TIMEOUT=3, GATEWAY_REQUEST_DEADLINE=4) as g:
        s = socket.create_connection(("127.0.0.1", g.port))
        s.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        cut_at = None
        served_meanwhile = False
        try:
            # one header byte a second: never idle for the 3 s timeout
            for i in range(12):
                try:
                    s.sendall(b"X")
                except (BrokenPipeError, ConnectionResetError):
                    cut_at = time.monotonic() - t0
                    break
                if is_closed(s, 1.0):
                    cut_at = time.monotonic() - t0
                    break
                if not served_meanwhile:
                    served_meanwhile = requests.get(g.url + "/live", timeout=5).status_code == 200
        finally:
            s.close()
        assert served_meanwhile
        assert cut_at is not None, "trickling client was never cut off"
        assert 3.0 <= cut_at <= 7.0


# ---- the extension goes away and comes back ----

def test_dropped_extension_is_not_ready_until_it_is_back(dba_sql):
    """DROP EXTENSION pgapp in the gateway's database: requests get 503 +
    Retry-After (not 500) and /ready is 503 (it stayed 200 on the cached
    catalog); CREATE EXTENSION again and it is ready without a restart.
    A database of the test's own, so the shared one keeps its extension."""
    db = f"gwtest_{uuid.uuid4().hex[:8]}"
    dba_sql(f"CREATE DATABASE {db}", db="postgres")
    try:
        dba_sql("CREATE EXTENSION pgapp CASCADE", db=db)
        p = urllib.parse.urlsplit(gateway_database_url())
        url = urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + db, p.query, p.fragment))
        g = Gateway(DATABASE_URL=url)
        g.start()
        try:
            def ready():
                return requests.get(g.url + "/ready", timeout=5).status_code

            assert requests.get(g.url + HEALTH, timeout=5).status_code == 200
            dba_sql("DROP EXTENSION pgapp CASCADE", db=db)
            r = requests.get(g.url + HEALTH, timeout=5)
            assert r.status_code == 503, r.text
            assert r.json() == {"detail": "Service Unavailable"}
            assert r.headers.get("Retry-After") == "1"
            assert ready() == 503
            assert requests.get(g.url + "/live", timeout=5).status_code == 200
            dba_sql("CREATE EXTENSION pgapp CASCADE", db=db)
            assert wait_for(lambda: ready() == 200, 15)
            assert requests.get(g.url + HEALTH, timeout=5).status_code == 200
        finally:
            assert g.stop() == 0
        assert "schema \"api\" does not exist" in g.log()
    finally:
        dba_sql(f"DROP DATABASE {db} WITH (FORCE)", db="postgres")
