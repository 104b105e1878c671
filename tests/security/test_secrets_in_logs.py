"""No secret reaches a log (SPEC §4, §7): with every statement and every
duration logged, logins, refreshes, a password change, a reset and a key
change leave no password, token or key in the server log or the gateway
log.  Key changes go the real way, scripts/apply-env.sh (a file read with
pg_read_file, so the secret is never SQL text)."""
import os
import re
import subprocess
import uuid

import pytest

from conftest import ROOT, bearer, login, wait_for



def server_log():
    return os.path.join(os.environ["PGAPP_CLUSTER_DIR"], "postgres.log")


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


@pytest.fixture
def verbose_logging(dba_sql):
    dba_sql("ALTER SYSTEM SET log_statement = 'all'")
    dba_sql("ALTER SYSTEM SET log_min_duration_statement = 0")
    dba_sql("SELECT pg_reload_conf()")
    # the new settings reach every backend at its next command
    marker = "log-probe-" + uuid.uuid4().hex
    assert wait_for(lambda: (dba_sql(f"SELECT '{marker}'") and marker in read_from(server_log(), 0)), 10)
    yield
    dba_sql("ALTER SYSTEM RESET log_statement")
    dba_sql("ALTER SYSTEM RESET log_min_duration_statement")
    dba_sql("SELECT pg_reload_conf()")


def apply_env(**overrides):
    env = {**os.environ, **overrides, "PSQL": os.environ["PGAPP_PSQL"]}
    proc = subprocess.run([os.path.join(ROOT, "scripts", "apply-env.sh"), os.environ["PGAPP_CLUSTER_DIR"]],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_no_secret_in_logs(api, superuser_token, dba_sql, verbose_logging, gateway_log):
    srv0, gw0 = size(server_log()), size(gateway_log)
    secrets = {}

    # signup and logins (password in a form body)
    email = f"logs-{uuid.uuid4().hex[:12]}@example.com"
    pw1 = "pw1-" + uuid.uuid4().hex
    r = api.post("/users/signup", json={"email": email, "password": pw1})
    assert r.status_code == 200
    secrets["signup password"] = pw1
    t1 = login(api, email, pw1)
    t2 = login(api, email, pw1)
    secrets.update({"access token": t1["access_token"], "refresh token": t1["refresh_token"],
                    "access token 2": t2["access_token"], "refresh token 2": t2["refresh_token"]})
    wrong = "wrong-" + uuid.uuid4().hex
    assert api.post("/login/access-token", data={"username": email, "password": wrong}).status_code == 400
    secrets["wrong password"] = wrong

    # refresh, and a reuse (a failing request)
    r = api.post("/login/refresh-token", data={"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert r.status_code == 200
    t3 = r.json()
    secrets.update({"rotated access": t3["access_token"], "rotated refresh": t3["refresh_token"]})
    r = api.post("/login/refresh-token", data={"grant_type": "refresh_token", "refresh_token": t1["refresh_token"]})
    assert r.status_code == 400

    # password change, with a wrong current password first
    pw2 = "pw2-" + uuid.uuid4().hex
    r = api.patch("/users/me/password", json={"current_password": pw1 + "x", "new_password": pw2},
                  headers=bearer(t2["access_token"]))
    assert r.status_code == 400
    r = api.patch("/users/me/password", json={"current_password": pw1, "new_password": pw2},
                  headers=bearer(t2["access_token"]))
    assert r.status_code == 200
    secrets["new password"] = pw2

    # recovery and reset
    assert api.post(f"/password-recovery/{email}").status_code == 200
    html = dba_sql("SELECT html FROM pgapp.mail_outbox WHERE recipient = :'e' ORDER BY id DESC LIMIT 1",
                   variables={"e": email})
    reset = re.search(r"token=([A-Za-z0-9_\-]+)", html).group(1)
    pw3 = "pw3-" + uuid.uuid4().hex
    r = api.post("/reset-password/", json={"token": reset, "new_password": "short"})
    assert r.status_code == 422
    r = api.post("/reset-password/", json={"token": reset, "new_password": pw3})
    assert r.status_code == 200
    secrets.update({"reset token": reset, "reset password": pw3})
    # the recovery HTML route hands out another live token
    r = api.post(f"/password-recovery-html-content/{email}", headers=bearer(superuser_token))
    assert r.status_code == 200
    secrets["html reset token"] = re.search(r"token=([A-Za-z0-9_\-]+)", r.text).group(1)

    # a user created by a superuser, and a password set by PATCH
    pw4 = "pw4-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": "x" + email, "password": pw4}, headers=bearer(superuser_token))
    assert r.status_code == 200
    pw5 = "pw5-" + uuid.uuid4().hex
    r = api.patch(f"/users/{r.json()['id']}", json={"password": pw5}, headers=bearer(superuser_token))
    assert r.status_code == 200
    secrets.update({"created password": pw4, "patched password": pw5})

    # a key change through the real path, then back
    old_key = os.environ["SECRET_KEY"]
    new_key = "rotated-" + uuid.uuid4().hex + uuid.uuid4().hex
    before = dba_sql("SELECT kid FROM pgapp.keys WHERE signing")
    apply_env(SECRET_KEY=new_key)
    rotated = dba_sql("SELECT kid FROM pgapp.keys WHERE signing")
    assert rotated != before
    t5 = login(api, email, pw3)
    secrets["token under the new key"] = t5["access_token"]
    assert api.get("/users/me", headers=bearer(superuser_token)).status_code == 200  # old key still verifies
    apply_env(SECRET_KEY=old_key)
    assert dba_sql("SELECT kid FROM pgapp.keys WHERE signing") != rotated
    secrets["new key"] = new_key

    # and the long-lived secrets of the environment
    for name in ("SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "GATEWAY_DB_PASSWORD"):
        if os.environ.get(name):
            secrets[name] = os.environ[name]

    srv = read_from(server_log(), srv0)
    gw = read_from(gateway_log, gw0)
    # the logging really was on: the dispatcher's statements are there
    assert "api.dispatch" in srv, srv[-2000:]
    assert "duration:" in srv
    for what, value in secrets.items():
        for part in {value, value[:24], value[-24:]}:
            assert part not in srv, f"{what} in the server log"
            assert part not in gw, f"{what} in the gateway log"
    # the environment's secrets never appear anywhere in the whole logs
    whole_srv, whole_gw = read_from(server_log(), 0), read_from(gateway_log, 0)
    for name in ("SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "GATEWAY_DB_PASSWORD"):
        value = os.environ.get(name)
        if value:
            assert value not in whole_srv, f"{name} in the server log"
            assert value not in whole_gw, f"{name} in the gateway log"


def test_gateway_role_hides_parameters(dba_sql):
    """The gateway's login role logs no bind parameter, even on error."""
    role = os.environ.get("GATEWAY_DB_USER", "pgapp_gateway_login")
    conf = dba_sql("""SELECT coalesce(string_agg(c, ','), '') FROM pg_db_role_setting s
                      JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c
                      WHERE r.rolname = :'r'""", variables={"r": role})
    assert "log_parameter_max_length=0" in conf.split(","), conf
    assert "log_parameter_max_length_on_error=0" in conf.split(","), conf
