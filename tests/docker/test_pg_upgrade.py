"""pg_upgrade of a populated pgapp database (README, DBA guide, "Moving to
a newer PostgreSQL major"), within this run's major: a cluster set up as
the db container's entrypoint does, populated (users who log in, items, a
live session and refresh token, a built-in route a DBA edited, a route a
DBA added with a handler of its own, changed settings, a rotated signing
key), then `pg_upgrade --check` and `pg_upgrade` into a fresh cluster.
pg_upgrade from a major to the same major runs the same checks and the same
binary-upgrade dump of the extension as an upgrade across majors does (the
cross-major path is tests/docker/test_major_upgrade.py).  On the new
cluster everything still works: the old passwords, tokens issued before the
upgrade, refresh, items, both routes, the catalog is the old one fact by
fact, `ALTER EXTENSION pgapp UPDATE` and the set-up at the next start
change nothing, and a gateway serves it."""
import json
import os
import pwd
import secrets
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import Gateway  # noqa: E402

from conftest import ROOT, bearer, cluster_env, cluster_sh, free_port, scratch_dir  # noqa: E402
from test_init_scripts import Container  # noqa: E402

MAJOR = cluster_env()["PG"]
DB = "pgapp"
EDITED = ("POST", "/api/v1/password-recovery/{email}")
ADDED = ("GET", "/api/v1/dba-upgrade/greet/{name}")


def server_bindir():
    """The server's binaries as pg_upgrade (run by pg_user_command) sees
    them: the private stage for PostgreSQL 15, the chroot's own for 13/17."""
    return cluster_sh("bindir") if MAJOR == "15" else f"/usr/lib/postgresql/{MAJOR}/bin"


def pg_user_command(cwd, program, *args):
    """program run as the cluster's OS user in cwd (pg_upgrade writes its
    logs and scripts there): on the host for 15, inside the chroot for
    13/17 (same paths on both sides)."""
    run_in = ["sh", "-c", 'cd "$0" && exec "$@"', cwd, program, *args]
    if MAJOR != "15":
        return [os.path.join(ROOT, "scripts", "pgchroot.sh"), "pgexec", MAJOR, *run_in]
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *run_in]
    return run_in


def catalog(c):
    with open(os.path.join(ROOT, "tests", "upgrade", "catalog.sql")) as f:
        return c.sql(f.read())


def snapshot(c):
    """What the upgrade must keep, as the DBA would read it."""
    return {
        "catalog": catalog(c),
        "extversion": c.sql("SELECT extversion FROM pg_extension WHERE extname = 'pgapp'"),
        "settings": c.settings(),
        "keys": c.keys(),
        "routes": c.sql("SELECT method, path, handler::text, auth, params, builtin, edited FROM api.routes"
                        " WHERE NOT builtin OR edited ORDER BY id"),
        "items": c.sql("SELECT u.email, i.title FROM pgapp.items i JOIN pgapp.users u ON u.id = i.owner_id"
                       " ORDER BY 1, 2"),
    }


class Upgrade:
    """An old cluster, populated and stopped; a new, empty one."""

    def __init__(self, d):
        self.dir = d
        self.old_dir, self.new_dir = os.path.join(d, "old"), os.path.join(d, "new")
        self.work = os.path.join(d, "work")
        self.old_port, self.new_port = free_port(), free_port()
        self.ann = {"email": "ann@example.com", "password": "ann-" + secrets.token_hex(8)}
        self.bob = {"email": "bob@example.com", "password": "bob-" + secrets.token_hex(8)}

    def populate(self):
        cluster_sh("create", self.old_dir, str(self.old_port))
        old = self.old = Container((self.old_dir, self.old_port), db=DB)
        old.start()
        for user in (self.ann, self.bob):
            old.sql("SELECT api.signup(:'email', :'password')", **user)
        tokens = json.loads(old.sql("SELECT api.login(:'email', :'password')", **self.ann))
        # ann's live session: an access token of the first key, a refresh token
        self.ann_token, self.ann_refresh = tokens["access_token"], tokens["refresh_token"]
        old.sql("BEGIN; SELECT api.authenticate(:'t');"
                " SELECT api.item_create('kept one', 'made before the upgrade');"
                " SELECT api.item_create('kept two'); COMMIT;", t=self.ann_token)
        # a DBA's edit of a built-in route and a route of a DBA's own
        old.sql("UPDATE api.routes SET auth = 'superuser' WHERE method = :'m' AND path = :'p'",
                m=EDITED[0], p=EDITED[1])
        old.sql("""
CREATE SCHEMA dba_upgrade;
CREATE FUNCTION dba_upgrade.greet(name text) RETURNS jsonb LANGUAGE sql STABLE
    AS $$ SELECT jsonb_build_object('hello', name) $$;
REVOKE EXECUTE ON FUNCTION dba_upgrade.greet(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA dba_upgrade TO pgapp_gateway;
GRANT EXECUTE ON FUNCTION dba_upgrade.greet(text) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params)
VALUES (:'m', :'p', 'dba_upgrade.greet(text)', 'none', '[{"name": "name", "in": "path"}]');
""", m=ADDED[0], p=ADDED[1])
        # changed settings and a rotated key: the next start applies them
        old.env.update(SECRET_KEY=secrets.token_urlsafe(48), ACCESS_TOKEN_EXPIRE_MINUTES="77",
                       BCRYPT_COST="5")
        old.start()
        assert [signing for _, signing in old.keys()] == [False, True]
        # bob's token: signed with the new key
        self.bob_token = json.loads(old.sql("SELECT api.login(:'email', :'password')", **self.bob))["access_token"]
        self.before = snapshot(old)
        cluster_sh("stop", self.old_dir)
        cluster_sh("create", self.new_dir, str(self.new_port))
        cluster_sh("stop", self.new_dir)
        os.makedirs(self.work)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.work, pg.pw_uid, pg.pw_gid)

    def pg_upgrade(self, *extra):
        bindir = server_bindir()
        proc = subprocess.run(pg_user_command(
            self.work, f"{bindir}/pg_upgrade", "-b", bindir, "-B", bindir,
            "-d", os.path.join(self.old_dir, "data"), "-D", os.path.join(self.new_dir, "data"),
            "-p", str(self.old_port), "-P", str(self.new_port), "-s", self.work, *extra),
            capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr + self.problem_lists()

    def problem_lists(self):
        """The lists pg_upgrade writes when a check fails (where the
        message says; 15 and later: under the new data directory)."""
        out = ""
        for top in (self.work, os.path.join(self.new_dir, "data")):
            for d, _, files in os.walk(top):
                for f in files:
                    if f.endswith(".txt") and not f.startswith("pg_upgrade_"):
                        with open(os.path.join(d, f), errors="replace") as fh:
                            out += f"\n--- {f}:\n" + fh.read()
        return out

    def stop(self):
        for d in (self.old_dir, self.new_dir):
            subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "stop", d, "immediate"],
                           env=cluster_env(), capture_output=True)


@pytest.fixture(scope="module")
def upgrade():
    with scratch_dir("pgupgrade") as d:
        u = Upgrade(d)
        try:
            u.populate()
            yield u
        finally:
            u.stop()


@pytest.fixture(scope="module")
def new(upgrade):
    """The upgraded cluster, running: a Container with the old one's .env."""
    rc, out = upgrade.pg_upgrade("--check")
    assert rc == 0, f"pg_upgrade --check failed:\n{out}"
    rc, out = upgrade.pg_upgrade()
    assert rc == 0, f"pg_upgrade failed:\n{out}"
    cluster_sh("start", upgrade.new_dir)
    c = Container((upgrade.new_dir, upgrade.new_port), db=DB)
    c.env = dict(upgrade.old.env)
    return c


def test_upgraded_catalog_settings_keys_routes_and_items_are_the_old_ones(upgrade, new):
    after = snapshot(new)
    for what, value in upgrade.before.items():
        assert after[what] == value, what
    assert len(upgrade.before["keys"]) == 2
    assert "dba_upgrade.greet(text)" in upgrade.before["routes"]
    assert upgrade.before["items"].splitlines() == ["ann@example.com|kept one", "ann@example.com|kept two"]
    assert "ACCESS_TOKEN_EXPIRE_MINUTES|77" in upgrade.before["settings"].splitlines()


def test_old_passwords_tokens_and_refresh_tokens_work(upgrade, new):
    # tokens of both keys, issued before the upgrade, still authenticate
    for user, token in ((upgrade.ann, upgrade.ann_token), (upgrade.bob, upgrade.bob_token)):
        out = new.sql("BEGIN; SELECT api.authenticate(:'t') IS NOT NULL; SELECT api.me() ->> 'email'; COMMIT;",
                      t=token)
        assert out.splitlines() == ["t", user["email"]]
    # the refresh token of the session opened before: once, not twice
    fresh = json.loads(new.sql("SELECT api.refresh_token(:'r')", r=upgrade.ann_refresh))
    assert new.verifies(fresh["access_token"])
    reuse = subprocess.run([new.psql_bin, "-X", "-q", "-At", "-h", os.path.join(new.dir, "sock"),
                            "-p", str(new.port), "-U", "postgres", "-d", DB, "-v", f"r={upgrade.ann_refresh}",
                            "-c", "SELECT api.refresh_token(:'r')"], capture_output=True, text=True)
    assert reuse.returncode != 0 and "ERROR" in reuse.stderr
    # a password login; ann sees her items, bob none
    for user, count in ((upgrade.ann, "2"), (upgrade.bob, "0")):
        out = new.sql("SELECT api.login(:'email', :'password') ->> 'access_token' AS t \\gset\n"
                      "BEGIN; SELECT api.authenticate(:'t') IS NOT NULL;"
                      " SELECT api.items_list(0, 100) -> 'count'; COMMIT;", **user)
        assert out.splitlines() == ["t", count]


def test_alter_extension_update_and_the_next_start_change_nothing(upgrade, new):
    proc = subprocess.run([new.psql_bin, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                           "-h", os.path.join(new.dir, "sock"), "-p", str(new.port), "-U", "postgres",
                           "-d", DB, "-c", "ALTER EXTENSION pgapp UPDATE"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f'version "{upgrade.before["extversion"]}" of extension "pgapp" is already installed' in proc.stderr
    # the db container's set-up at its next start, with the same .env
    new.start()
    after = snapshot(new)
    for what in ("catalog", "extversion", "settings", "keys", "routes"):
        assert after[what] == upgrade.before[what], what


def test_a_gateway_serves_the_upgraded_database(upgrade, new):
    url = (f"postgresql://{new.env['GATEWAY_DB_USER']}:{new.env['GATEWAY_DB_PASSWORD']}"
           f"@127.0.0.1:{upgrade.new_port}/{DB}")
    with Gateway(DATABASE_URL=url) as gw:
        api = gw.url + "/api/v1"
        r = requests.get(api + "/users/me", headers=bearer(upgrade.ann_token), timeout=10)
        assert r.status_code == 200 and r.json()["email"] == upgrade.ann["email"], r.text
        r = requests.post(api + "/login/access-token", timeout=10,
                          data={"username": upgrade.bob["email"], "password": upgrade.bob["password"]})
        assert r.status_code == 200, r.text
        r = requests.post(api + "/login/refresh-token", data={"refresh_token": r.json()["refresh_token"]},
                          timeout=10)
        assert r.status_code == 200, r.text
        r = requests.get(api + "/items/", headers=bearer(upgrade.ann_token), timeout=10)
        assert r.status_code == 200, r.text
        assert sorted(i["title"] for i in r.json()["data"]) == ["kept one", "kept two"]
        # the edited built-in route is still closed to all but superusers
        r = requests.post(api + "/password-recovery/ann@example.com", timeout=10)
        assert r.status_code == 401, r.text
        # the DBA's route reaches its own handler
        r = requests.get(api + "/dba-upgrade/greet/world", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"hello": "world"}
