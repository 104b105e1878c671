"""The db container's set-up (sql/docker/apply-env.sh, run by the image's
entrypoint at every start) against a fresh local cluster, with the
variables of a .env as Compose's env_file passes them: the first start
installs the extension, the signing key and the first superuser; a start
with a changed SECRET_KEY rotates the key (old tokens still verify, new
ones carry the new kid); a start with nothing changed changes nothing."""
import json
import os
import secrets
import subprocess

import pytest

from conftest import ROOT, SPEC_VARIABLES, cluster_sh, dotenv, jwt_part, scratch_cluster

DB = "pgapp_docker"


class Container:
    """What the db container's entrypoint does at a start, minus Docker."""

    def __init__(self, cluster, db=DB):
        self.dir, self.port = cluster
        self.db = db
        self.env = dotenv(os.path.join(ROOT, ".env.example"))
        self.env.update(POSTGRES_USER="postgres", POSTGRES_DB=db, BCRYPT_COST="4",
                        SECRET_KEY=secrets.token_urlsafe(48),
                        FIRST_SUPERUSER_PASSWORD="first-" + secrets.token_hex(8),
                        GATEWAY_DB_PASSWORD="gw-" + secrets.token_hex(8))
        self.psql_bin = os.environ.get("PGAPP_PSQL") or cluster_sh("bin", "psql")

    def run(self, **changes):
        """A start with .env plus changes: the finished process."""
        env = {k: v for k, v in os.environ.items() if k not in SPEC_VARIABLES and not k.startswith("PG")}
        env.update(self.env, **changes)
        env.update(PGHOST=os.path.join(self.dir, "sock"), PGPORT=str(self.port),
                   PGDATA=os.path.join(self.dir, "data"), PSQL=self.psql_bin,
                   PGAPP_SCRIPTS=os.path.join(ROOT, "scripts"))
        proc = subprocess.run([os.path.join(ROOT, "sql", "docker", "apply-env.sh")],
                              env=env, capture_output=True, text=True)
        assert not os.path.exists(os.path.join(self.dir, "data", "pgapp-setup.env")), \
            "the file with the secrets must not stay behind"
        return proc

    def start(self, **changes):
        """A start with .env plus changes; the failed start's output, or None."""
        proc = self.run(**changes)
        if changes:
            return None if proc.returncode == 0 else proc.stdout + proc.stderr
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def psql(self, query, **variables):
        """query run by psql as the superuser: the finished process."""
        cmd = [self.psql_bin, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
               "-h", os.path.join(self.dir, "sock"), "-p", str(self.port), "-U", "postgres", "-d", self.db]
        for k, v in variables.items():
            cmd += ["-v", f"{k}={v}"]
        return subprocess.run(cmd, input=query, capture_output=True, text=True)

    def sql(self, query, **variables):
        proc = self.psql(query, **variables)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def login(self):
        out = self.sql("SELECT api.login(:'email', :'password')",
                       email=self.env["FIRST_SUPERUSER"], password=self.env["FIRST_SUPERUSER_PASSWORD"])
        return json.loads(out)["access_token"]

    def verifies(self, token):
        return json.loads(self.sql("SELECT api.jwt_verify(:'token')", token=token))

    def settings(self):
        return self.sql("SELECT name, value FROM pgapp.settings ORDER BY name")

    def keys(self):
        rows = self.sql("SELECT kid, signing FROM pgapp.keys ORDER BY created_at")
        return [(r.split("|")[0], r.split("|")[1] == "t") for r in rows.splitlines()]


def kid(token):
    return jwt_part(token, 0)["kid"]


@pytest.fixture(scope="module")
def container(fresh_cluster):
    c = Container(fresh_cluster)
    c.start()
    return c


@pytest.fixture(scope="module")
def first_token(container):
    return container.login()


def test_first_start_installs_the_extension(container):
    assert container.sql("SELECT count(*) FROM pg_extension WHERE extname IN ('pgapp', 'pgcrypto')") == "2"


def test_first_start_installs_one_signing_key(container):
    keys = container.keys()
    assert len(keys) == 1 and keys[0][1]


def test_first_superuser_can_log_in(container, first_token):
    assert kid(first_token) == container.keys()[0][0]
    assert container.verifies(first_token)
    me = container.sql("BEGIN; SELECT api.authenticate(:'token') IS NOT NULL;"
                       " SELECT api.me()->>'is_superuser'; COMMIT;", token=first_token)
    assert me.splitlines()[-1] == "true"


def test_gateway_login_role_is_not_privileged(container):
    row = container.sql("SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :'r'",
                        r=container.env["GATEWAY_DB_USER"])
    assert row == "t|f|f"


def test_restart_with_nothing_changed_changes_nothing(container, first_token):
    before = container.keys()
    container.start()
    assert container.keys() == before


def test_restart_with_a_new_secret_key_rotates(container, first_token):
    old_kid = kid(first_token)
    container.env["SECRET_KEY"] = secrets.token_urlsafe(48)
    container.start()
    keys = container.keys()
    assert len(keys) == 2
    signing = [k for k, s in keys if s]
    assert len(signing) == 1 and signing[0] != old_kid
    # the old token still verifies, a new one carries the new kid
    assert container.verifies(first_token)
    new_token = container.login()
    assert kid(new_token) == signing[0]
    assert container.verifies(new_token)


# Compose passes each of SPEC §4's variables to the db, empty when .env
# leaves it out (docker-compose.yml): empty means the default, or the value
# the database keeps, exactly as when the variable is not set at all.
OPTIONAL = ("ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES", "BCRYPT_COST", "FRONTEND_HOST",
            "PROJECT_NAME", "FIRST_SUPERUSER", "FIRST_SUPERUSER_PASSWORD", "GATEWAY_DB_USER",
            "GATEWAY_DB_PASSWORD", "SECRET_KEY", "EMAIL_RESET_TOKEN_EXPIRE_HOURS")


def test_empty_variables_keep_what_the_database_has(container, first_token):
    settings, keys = container.settings(), container.keys()
    assert container.start(**{var: "" for var in OPTIONAL}) is None
    assert container.settings() == settings and container.keys() == keys
    assert container.verifies(container.login())


@pytest.mark.parametrize("var,value,message", [
    ("ALGORITHM", "RS256", "ALGORITHM must be HS256, HS384 or HS512"),
    ("ALGORITHM", "none", "ALGORITHM must be HS256, HS384 or HS512"),
    ("BCRYPT_COST", "3", "BCRYPT_COST must be between 4 and 16"),
    ("BCRYPT_COST", "17", "BCRYPT_COST must be between 4 and 16"),
    ("BCRYPT_COST", "twelve", "BCRYPT_COST must be between 4 and 16"),
    ("ACCESS_TOKEN_EXPIRE_MINUTES", "0", "ACCESS_TOKEN_EXPIRE_MINUTES must be a whole number"),
    ("ACCESS_TOKEN_EXPIRE_MINUTES", "1.5", "ACCESS_TOKEN_EXPIRE_MINUTES must be a whole number"),
    ("ENVIRONMENT", "prod", "ENVIRONMENT must be local, staging or production"),
    ("FRONTEND_HOST", "javascript:alert(1)", "FRONTEND_HOST must be an http(s) URL"),
    ("SECRET_KEY", "short", "signing key is too short"),
    ("EMAIL_RESET_TOKEN_EXPIRE_HOURS", "0", "EMAIL_RESET_TOKEN_EXPIRE_HOURS must be a whole number of hours"),
    ("EMAIL_RESET_TOKEN_EXPIRE_HOURS", "169", "EMAIL_RESET_TOKEN_EXPIRE_HOURS must be a whole number of hours"),
])
def test_a_bad_value_stops_the_start_and_changes_nothing(container, first_token, var, value, message):
    """The start fails with the reason, and the new SECRET_KEY and
    PROJECT_NAME that came with the bad value are not applied either."""
    settings, keys = container.settings(), container.keys()
    changes = {"SECRET_KEY": secrets.token_urlsafe(48), "PROJECT_NAME": "changed-" + var}
    changes[var] = value
    out = container.start(**changes)
    assert out is not None and message in out, out
    assert container.settings() == settings and container.keys() == keys
    assert container.verifies(first_token)


def test_a_new_database_needs_a_secret_key(fresh_cluster):
    c = Container(fresh_cluster, db=DB + "_nokey")
    out = c.start(SECRET_KEY="")
    assert out is not None and "SECRET_KEY must be set" in out, out
    assert c.sql("SELECT count(*) FROM pgapp.keys") == "0"
    assert c.start(BCRYPT_COST="") is None            # once set, it signs
    assert c.keys() and c.keys()[0][1]


def test_defaults_where_nothing_is_set(fresh_cluster):
    """SPEC §4's defaults, in a database that was given none of them."""
    c = Container(fresh_cluster, db=DB + "_defaults")
    assert c.start(**{var: "" for var in OPTIONAL if var != "SECRET_KEY"}, ENVIRONMENT="") is None
    got = c.sql("SELECT pgapp.setting('ENVIRONMENT'), pgapp.setting('ALGORITHM'),"
                " pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES'), pgapp.setting('BCRYPT_COST'),"
                " pgapp.setting('FRONTEND_HOST')")
    assert got == "local|HS256|30|12|http://localhost:5173"
    assert c.sql("SELECT count(*) FROM pgapp.users") == "0"    # no FIRST_SUPERUSER, no user


def test_a_refused_value_leaves_no_secrets_file(container):
    """apply-env.sh refuses a newline before psql runs; the file it was
    writing, with SECRET_KEY in it, goes too (run() checks)."""
    proc = container.run(PROJECT_NAME="two\nlines")
    assert proc.returncode != 0 and "PROJECT_NAME: newlines are not allowed" in proc.stderr, proc.stderr


def test_a_start_says_nothing_when_all_is_well(container):
    """No NOTICE noise (already a member, already exists) at every start."""
    proc = container.run()
    assert proc.returncode == 0, proc.stderr
    assert "NOTICE" not in proc.stdout + proc.stderr, proc.stderr


def test_a_database_name_with_quotes(fresh_cluster):
    """POSTGRES_DB is data, never SQL text."""
    c = Container(fresh_cluster, db="pgapp_docker x'y\"z")
    c.start()
    assert c.sql("SELECT current_database()") == c.db
    assert c.sql("SELECT count(*) FROM pgapp.users") == "1"
    c.start()                                         # the second start finds it


@pytest.mark.parametrize("changes,message", [
    ({"FIRST_SUPERUSER": "not-an-email"}, "invalid value for FIRST_SUPERUSER: value is not a valid email address"),
    ({"FIRST_SUPERUSER": "second@example.com", "FIRST_SUPERUSER_PASSWORD": "short"},
     "invalid value for FIRST_SUPERUSER_PASSWORD: String should have at least 8 characters"),
])
def test_first_superuser_errors_name_the_variable(container, changes, message):
    users = container.sql("SELECT count(*) FROM pgapp.users")
    out = container.start(**changes)
    assert out is not None and message in out and "body." not in out, out
    assert container.sql("SELECT count(*) FROM pgapp.users") == users


@pytest.mark.parametrize("user", ["pgapp_owner", "pgapp_gateway", "pgapp_caller", "pg_database_owner", "postgres"])
def test_gateway_db_user_cannot_be_a_privileged_role(container, user):
    """Refused with one clear line naming GATEWAY_DB_USER, before anything
    changes: the role gets no login and no password."""
    before = container.sql("SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = :'r'", r=user)
    out = container.start(GATEWAY_DB_USER=user, GATEWAY_DB_PASSWORD="TopSecretPw42")
    assert out is not None and "GATEWAY_DB_USER must not be" in out and user in out, out
    assert "TopSecretPw42" not in out
    assert container.sql("SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = :'r'",
                         r=user) == before


def test_a_changed_gateway_db_user_takes_the_gateway_away_from_the_previous(container):
    old = container.env["GATEWAY_DB_USER"]
    member = "SELECT pg_has_role(:'r', 'pgapp_gateway', 'MEMBER')"
    assert container.sql(member, r=old) == "t"
    proc = container.run(GATEWAY_DB_USER="pgapp_gateway_login2")
    assert proc.returncode == 0, proc.stderr
    assert 'role "%s" is no longer a member of pgapp_gateway' % old in proc.stderr, proc.stderr
    assert container.sql(member, r=old) == "f"
    assert container.sql(member, r="pgapp_gateway_login2") == "t"
    container.start()                                  # and back
    assert container.sql(member, r=old) == "t"
    assert container.sql(member, r="pgapp_gateway_login2") == "f"


def test_the_development_key_stops_when_the_environment_is_production(fresh_cluster):
    """First set up with ENVIRONMENT=local and .env.example's key, then
    ENVIRONMENT=production with SECRET_KEY empty: refused, and the
    development key still signs only locally.  A real SECRET_KEY replaces
    it at once (no grace period for a published key)."""
    c = Container(fresh_cluster, db=DB + "_devkey")
    dev_key = dotenv(os.path.join(ROOT, ".env.example"))["SECRET_KEY"]
    c.env.update(SECRET_KEY=dev_key, ENVIRONMENT="local")
    c.start()
    out = c.start(ENVIRONMENT="production", SECRET_KEY="")
    assert out is not None and "the development signing key is refused outside the local environment" in out, out
    assert "Set SECRET_KEY" in out
    assert c.sql("SELECT pgapp.setting('ENVIRONMENT')") == "local"
    c.env.update(ENVIRONMENT="production", SECRET_KEY=secrets.token_urlsafe(48))
    c.start()
    assert c.sql("SELECT count(*) FROM pgapp.keys WHERE retired_at IS NULL OR retired_at > now()") == "1"
    assert c.start(SECRET_KEY="") is None              # the new key keeps signing


def test_the_gateway_password_never_is_sql_text():
    """With pg_stat_statements tracking every nested statement, the
    gateway's password is found neither there nor in the server log, also
    when a start fails; the role keeps a SCRAM verifier, and logs in."""
    with scratch_cluster("pgss") as (d, port):
        cluster_sh("stop", d)
        with open(os.path.join(d, "data", "postgresql.conf"), "a") as conf:
            conf.write("shared_preload_libraries = 'pg_stat_statements'\n"
                       "pg_stat_statements.track = all\n")
        cluster_sh("start", d)
        c = Container((d, port))
        password = "TopSecretPw-" + secrets.token_hex(8)
        c.env["GATEWAY_DB_PASSWORD"] = password
        c.start()
        assert c.start(GATEWAY_DB_USER="pg_database_owner") is not None
        c.sql("CREATE EXTENSION pg_stat_statements")
        assert c.sql("SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'ALTER ROLE % PASSWORD %'") == "t"
        assert c.sql("SELECT count(*) FROM pg_stat_statements WHERE strpos(query, :'pw') > 0", pw=password) == "0"
        with open(os.path.join(d, "postgres.log"), encoding="utf-8", errors="replace") as f:
            assert password not in f.read()
        user = c.env["GATEWAY_DB_USER"]
        assert c.sql("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = :'r'", r=user) == "SCRAM-SHA-256$"
        login = subprocess.run([c.psql_bin, "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", user,
                                "-d", DB, "-c", "SELECT current_user"],
                               env={**os.environ, "PGPASSWORD": password}, capture_output=True, text=True)
        assert login.returncode == 0 and login.stdout.strip() == user, login.stderr


def test_reset_link_lifetime_from_the_environment(fresh_cluster):
    """EMAIL_RESET_TOKEN_EXPIRE_HOURS reaches the recovery mail; empty keeps it."""
    c = Container(fresh_cluster, db=DB + "_reset")
    c.start()
    assert c.sql("SELECT pgapp.setting('RESET_TOKEN_EXPIRE_HOURS')") == "1"       # pgapp's default
    c.env["EMAIL_RESET_TOKEN_EXPIRE_HOURS"] = "48"
    c.start()
    assert c.start(EMAIL_RESET_TOKEN_EXPIRE_HOURS="") is None
    assert c.sql("SELECT pgapp.setting('RESET_TOKEN_EXPIRE_HOURS')") == "48"
    html = c.sql("SELECT (pgapp.recovery_mail(u)).html FROM pgapp.users u WHERE u.email = :'e'",
                 e=c.env["FIRST_SUPERUSER"])
    assert "valid for 48 hours." in html, html
