"""Start-up refusals (exit 2, one line on stderr) and start-up before the
database is reachable."""
import os
import socket
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

from gateway_harness import Gateway, base_env, free_port, gateway_bin, gateway_database_url, run_until_exit


def refused(env):
    code, err = run_until_exit(env)
    lines = [l for l in err.splitlines() if l.strip()]
    return code, lines


def test_secret_key_in_environment_is_refused():
    code, lines = refused(base_env(SECRET_KEY="x" * 40))
    assert code == 2
    assert len(lines) == 1 and "SECRET_KEY" in lines[0]


def test_missing_database_url_is_refused():
    code, lines = refused(base_env(DATABASE_URL=None))
    assert code == 2
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]


@pytest.mark.parametrize("name,value", [
    ("PORT", "eighty"), ("PORT", "70000"), ("GATEWAY_WORKERS", "0"),
    ("MAX_BODY_BYTES", "-5"), ("GATEWAY_LISTEN", "not-an-ip"),
    ("TRUSTED_PROXIES", "10.0.0.0/40"), ("BACKEND_CORS_ORIGINS", "nope"),
    ("GATEWAY_CONN_TIMEOUT", "0"), ("GATEWAY_POOL_WAIT_MS", "soon"),
    ("GATEWAY_LOG_FLUSH_MS", "-1"), ("GATEWAY_LOG_FLUSH_MS", "20000"),
    ("ENVIRONMENT", "bogus"), ("BACKEND_CORS_ORIGINS", "http://a.com?x"),
    ("BACKEND_CORS_ORIGINS", "http://a.com:abc"),
])
def test_bad_value_is_refused_with_one_line(name, value):
    code, lines = refused(base_env(**{name: value}))
    assert code == 2
    assert len(lines) == 1 and name in lines[0]


def url_variant(netloc=None, query=None):
    """The gateway's own URL (its real password in it) with another host
    part or query."""
    p = urllib.parse.urlsplit(gateway_database_url())
    return urllib.parse.urlunsplit((p.scheme, netloc or p.netloc, p.path,
                                    p.query if query is None else query, p.fragment))


@pytest.mark.parametrize("kind", ["garbage", "port", "sslmode", "empty", "ipv6"])
def test_bad_database_url_is_refused_without_its_password(kind):
    """A DATABASE_URL that can never connect stops start-up with one line
    (it used to log a warning and retry forever); the password is not in
    that line."""
    p = urllib.parse.urlsplit(gateway_database_url())
    userinfo = p.netloc.rsplit("@", 1)[0]
    url = {"garbage": f"garbage {p.password}",
           "port": url_variant(netloc=f"{userinfo}@127.0.0.1:notaport"),
           "sslmode": url_variant(query="sslmode=bogus"),
           "empty": "",
           "ipv6": url_variant(netloc=f"{userinfo}@[::1")}[kind]
    code, lines = refused(base_env(DATABASE_URL=url))
    assert code == 2
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], lines
    assert p.password not in lines[0]
    if kind == "port":
        assert lines[0] == 'pgapp-gateway: DATABASE_URL: invalid port "notaport" (1..65535)'


def with_user(url, user, password):
    p = urllib.parse.urlsplit(url)
    host = p.hostname + (f":{p.port}" if p.port else "")
    netloc = f"{urllib.parse.quote(user)}:{urllib.parse.quote(password)}@{host}"
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


@pytest.mark.parametrize("attr", ["SUPERUSER", "BYPASSRLS"])
def test_privileged_role_is_refused(dba_sql, attr):
    role = f"gw_test_{attr.lower()}_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    dba_sql(f"CREATE ROLE {role} LOGIN {attr} PASSWORD :'pw'", variables={"pw": password})
    try:
        url = with_user(gateway_database_url(), role, password)
        code, lines = refused(base_env(DATABASE_URL=url))
        assert code == 2
        # the check runs once connected, after start-up log lines
        assert "superuser or has BYPASSRLS" in lines[-1]
        assert sum("BYPASSRLS" in l for l in lines) == 1
    finally:
        dba_sql(f"DROP ROLE {role}")


def test_role_that_can_read_signing_keys_is_refused(dba_sql):
    """SPEC §1: the gateway never sees a signing key.  A login role that a
    superuser allowed to read pgapp.signing_keys is refused like a
    BYPASSRLS one: exit 2, one line."""
    role = f"gw_test_keys_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    dba_sql(f"CREATE ROLE {role} LOGIN PASSWORD :'pw'; GRANT pgapp_gateway TO {role}; "
            f"GRANT SELECT ON pgapp.signing_keys TO {role}", variables={"pw": password})
    try:
        url = with_user(gateway_database_url(), role, password)
        code, lines = refused(base_env(DATABASE_URL=url))
        assert code == 2
        assert lines[-1] == (f'pgapp-gateway: database role "{role}" can read '
                             'pgapp.signing_keys: the gateway refuses to use it'), lines
        assert sum("signing_keys" in l for l in lines) == 1
    finally:
        dba_sql(f"REVOKE SELECT ON pgapp.signing_keys FROM {role}; DROP ROLE {role}")


def test_starts_before_the_database_and_waits():
    # a port where nothing listens: the gateway serves /live, /ready is 503
    dead = free_port()
    p = urllib.parse.urlsplit(gateway_database_url())
    netloc = p.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{dead}"
    url = urllib.parse.urlunsplit((p.scheme, (netloc[0] + "@" if len(netloc) == 2 else "") + host,
                                   p.path, p.query, p.fragment))
    g = Gateway(DATABASE_URL=url)
    g.start(wait_ready=False)
    try:
        assert requests.get(g.url + "/live", timeout=5).status_code == 200
        t0 = time.monotonic()
        r = requests.get(g.url + "/ready", timeout=5)
        assert r.status_code == 503
        r = requests.get(g.url + "/api/v1/utils/health-check/", timeout=5)
        assert r.status_code == 503
        assert r.headers.get("Retry-After") == "1"
        assert time.monotonic() - t0 < 1.0
        assert g.proc.poll() is None
    finally:
        assert g.stop() == 0


def live_status(host, port):
    return requests.get(f"http://{host}:{port}/live", timeout=5).status_code


def test_listen_on_any_address_serves_ipv4_and_ipv6():
    with Gateway(GATEWAY_LISTEN="::") as g:
        assert live_status("127.0.0.1", g.port) == 200
        assert live_status("[::1]", g.port) == 200


def test_listen_on_ipv6_loopback_serves_only_it():
    g = Gateway(GATEWAY_LISTEN="::1")
    g.url = f"http://[::1]:{g.port}"
    with g:
        assert live_status("[::1]", g.port) == 200
        with pytest.raises(requests.ConnectionError):
            live_status("127.0.0.1", g.port)


def test_port_in_use_is_refused_clearly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        code, err = run_until_exit(base_env(PORT=s.getsockname()[1]))
    assert code != 0
    assert "cannot listen on 127.0.0.1 port" in err


def test_empty_tuning_values_mean_the_defaults():
    """Compose hands the tuning knobs over empty when .env leaves them empty
    (GATEWAY_LISTEN too, whose default 0.0.0.0 a test must not bind: the
    unit tests check that one)."""
    empty = {v: "" for v in ("GATEWAY_WORKERS", "GATEWAY_POOL_WAIT_MS", "GATEWAY_MAX_CONNS",
                             "GATEWAY_MAX_CONNS_PER_IP", "GATEWAY_CONN_TIMEOUT",
                             "GATEWAY_REQUEST_DEADLINE", "GATEWAY_DRAIN_SECONDS",
                             "GATEWAY_LOG_FLUSH_MS", "MAX_BODY_BYTES", "TRUSTED_PROXIES",
                             "BACKEND_CORS_ORIGINS")}
    g = Gateway(**empty).start()
    try:
        r = requests.get(g.url + "/api/v1/utils/health-check/", timeout=10)
        assert r.status_code == 200 and r.json() is True
        assert "pool" in g.log() and "listening on 127.0.0.1" in g.log()
    finally:
        assert g.stop() == 0


def test_no_thread_for_the_log_flusher_is_refused():
    """The flusher is the first thread the gateway starts: when the system
    refuses it (here RLIMIT_NPROC of 1 for an unprivileged user), start-up
    stops with one line instead of running without its log."""
    binary = os.path.realpath(gateway_bin())
    cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
           "prlimit", "--nproc=1", "--", binary]
    proc = subprocess.run(cmd, env=base_env(), capture_output=True, text=True, timeout=15)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 1, proc.stderr
    assert lines == ["pgapp-gateway: cannot start the log flusher"], lines
