"""The db container's set-up (sql/docker/apply-env.sh, run by the image's
entrypoint at every start) against a fresh local cluster, with the
variables of a .env as Compose's env_file passes them: the first start
installs the extension, the signing key and the first superuser; a start
with a changed SECRET_KEY rotates the key (old tokens still verify, new
ones carry the new kid); a start with nothing changed changes nothing."""
import base64
import json
import os
import secrets
import subprocess

import pytest

from conftest import ROOT, SPEC_VARIABLES, cluster_sh, dotenv

DB = "pgapp_docker"


class Container:
    """What the db container's entrypoint does at a start, minus Docker."""

    def __init__(self, cluster):
        self.dir, self.port = cluster
        self.env = dotenv(os.path.join(ROOT, ".env.example"))
        self.env.update(POSTGRES_USER="postgres", POSTGRES_DB=DB, BCRYPT_COST="4",
                        SECRET_KEY=secrets.token_urlsafe(48),
                        FIRST_SUPERUSER_PASSWORD="first-" + secrets.token_hex(8),
                        GATEWAY_DB_PASSWORD="gw-" + secrets.token_hex(8))
        self.psql_bin = os.environ.get("PGAPP_PSQL") or cluster_sh("bin", "psql")

    def start(self):
        env = {k: v for k, v in os.environ.items() if k not in SPEC_VARIABLES and not k.startswith("PG")}
        env.update(self.env)
        env.update(PGHOST=os.path.join(self.dir, "sock"), PGPORT=str(self.port),
                   PGDATA=os.path.join(self.dir, "data"), PSQL=self.psql_bin,
                   PGAPP_SCRIPTS=os.path.join(ROOT, "scripts"))
        proc = subprocess.run([os.path.join(ROOT, "sql", "docker", "apply-env.sh")],
                              env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not os.path.exists(os.path.join(self.dir, "data", "pgapp-setup.env")), \
            "the file with the secrets must not stay behind"

    def sql(self, query, **variables):
        cmd = [self.psql_bin, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
               "-h", os.path.join(self.dir, "sock"), "-p", str(self.port), "-U", "postgres", "-d", DB]
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

    def keys(self):
        rows = self.sql("SELECT kid, signing FROM pgapp.keys ORDER BY created_at")
        return [(r.split("|")[0], r.split("|")[1] == "t") for r in rows.splitlines()]


def kid(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


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
