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

from conftest import ROOT, SPEC_VARIABLES, cluster_sh, dotenv, jwt_part

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

    def start(self, **changes):
        """A start with .env plus changes; the failed start's output, or None."""
        env = {k: v for k, v in os.environ.items() if k not in SPEC_VARIABLES and not k.startswith("PG")}
        env.update(self.env, **changes)
        env.update(PGHOST=os.path.join(self.dir, "sock"), PGPORT=str(self.port),
                   PGDATA=os.path.join(self.dir, "data"), PSQL=self.psql_bin,
                   PGAPP_SCRIPTS=os.path.join(ROOT, "scripts"))
        proc = subprocess.run([os.path.join(ROOT, "sql", "docker", "apply-env.sh")],
                              env=env, capture_output=True, text=True)
        assert not os.path.exists(os.path.join(self.dir, "data", "pgapp-setup.env")), \
            "the file with the secrets must not stay behind"
        if changes:
            return None if proc.returncode == 0 else proc.stdout + proc.stderr
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def sql(self, query, **variables):
        cmd = [self.psql_bin, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
               "-h", os.path.join(self.dir, "sock"), "-p", str(self.port), "-U", "postgres", "-d", self.db]
        for k, v in variables.items():
            cmd += ["-v", f"{k}={v}"]
        proc = subprocess.run(cmd, input=query, capture_output=True, text=True)
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
            "GATEWAY_DB_PASSWORD", "SECRET_KEY")


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
