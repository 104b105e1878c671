"""Backups (SPEC §7, docs/DOCKER.md): every table holding data is registered
with pg_extension_config_dump, so a plain pg_dump of a populated database,
restored into a fresh cluster, keeps users, passwords, sessions, keys and
items: the user logs in again, an access token issued before the dump still
authenticates, and the items are there, still private to their owner."""
import json
import os
import subprocess
import uuid

import pytest

from conftest import bearer, login
from conftest import cluster_env, cluster_sh, scratch_cluster


def run_sql(psql, host, port, db, query, **variables):
    cmd = [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port),
           "-U", "postgres", "-d", db]
    for k, v in variables.items():
        cmd += ["-v", f"{k}={v}"]
    proc = subprocess.run(cmd, input=query, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def dump_test_database():
    """pg_dump -Fc of the test database, to stdout (PG 13/17 run inside
    their chroot: no host paths)."""
    dump = subprocess.run([cluster_sh("bin", "pg_dump"), "-Fc", "-h", os.environ["PGHOST"],
                           "-p", os.environ["PGPORT"], "-U", "postgres", "pgapp"],
                          capture_output=True, env=cluster_env())
    assert dump.returncode == 0, dump.stderr.decode()
    return dump.stdout


def restore_into(cluster, db, dump):
    """A new database db in cluster (host, port), restored from dump."""
    host, port = cluster
    run_sql(os.environ["PGAPP_PSQL"], host, port, "postgres", f"CREATE DATABASE {db}")
    restore = subprocess.run([cluster_sh("bin", "pg_restore"), "-h", host, "-p", str(port),
                              "-U", "postgres", "-d", db, "--exit-on-error"],
                             input=dump, capture_output=True, env=cluster_env())
    assert restore.returncode == 0, restore.stderr.decode()


@pytest.fixture(scope="module")
def second_cluster():
    with scratch_cluster("restore") as (d, port):
        yield os.path.join(d, "sock"), port


def test_dump_restore_keeps_users_sessions_keys_and_items(api, superuser_token, second_cluster):
    psql = os.environ["PGAPP_PSQL"]
    # a populated database: two users, items, a live session
    owner = f"backup-{uuid.uuid4().hex[:10]}@example.com"
    other = f"backup-{uuid.uuid4().hex[:10]}@example.com"
    for email in (owner, other):
        r = api.post("/users/signup", json={"email": email, "password": "backup-password-1"})
        assert r.status_code == 200, r.text
    token = login(api, owner, "backup-password-1")["access_token"]
    titles = sorted(f"kept {i}" for i in range(3))
    for title in titles:
        r = api.post("/items/", json={"title": title}, headers=bearer(token))
        assert r.status_code == 200, r.text

    dump = dump_test_database()
    assert len(dump) > 1000
    restore_into(second_cluster, "restored", dump)
    host, port = second_cluster

    # the token issued before the dump still authenticates: keys and
    # sessions came back; the items too, and only for their owner
    out = run_sql(psql, host, port, "restored", """
BEGIN;
SELECT api.authenticate(:'token') IS NOT NULL;
SELECT api.me() ->> 'email';
SELECT string_agg(x ->> 'title', ',' ORDER BY x ->> 'title')
  FROM jsonb_array_elements(api.items_list(0, 100) -> 'data') x;
COMMIT;
""", token=token)
    assert out.splitlines() == ["t", owner, ",".join(titles)]

    # a password login works, and the other user sees none of the items
    out = run_sql(psql, host, port, "restored", """
SELECT api.login(:'email', 'backup-password-1') ->> 'access_token' AS t \\gset
BEGIN;
SELECT api.authenticate(:'t') IS NOT NULL;
SELECT api.items_list(0, 100) -> 'count';
COMMIT;
""", email=other)
    assert out.splitlines() == ["t", "0"]

    # the keyring was restored, secrets included, and is still private
    assert run_sql(psql, host, port, "restored",
                   "SELECT count(*) > 0 FROM pgapp.keys WHERE signing") == "t"
    assert run_sql(psql, host, port, "restored",
                   "SELECT has_table_privilege('pgapp_caller', 'pgapp.signing_keys', 'SELECT')") == "f"
    # a superuser still exists
    assert json.loads(run_sql(psql, host, port, "restored",
                              "SELECT count(*) FROM pgapp.users WHERE is_superuser")) >= 1


def test_routes_added_after_a_restore_get_new_ids(dba_sql, second_cluster):
    """A DBA's routes are dumped with their ids, and so is the id sequence
    (1.2): a route added after the restore takes an id after theirs instead
    of colliding with one."""
    psql = os.environ["PGAPP_PSQL"]
    tag = uuid.uuid4().hex[:8]
    paths = [f"/api/v1/dba-{tag}/{n}" for n in ("one", "two")]
    for path in paths:
        dba_sql(f"INSERT INTO api.routes (method, path, handler, auth, params) VALUES "
                f"('GET', '{path}', 'api.health_check()', 'none', '[]')")
    try:
        dump = dump_test_database()
    finally:
        dba_sql(f"DELETE FROM api.routes WHERE path LIKE '/api/v1/dba-{tag}/%'")

    restore_into(second_cluster, "restored_routes", dump)
    host, port = second_cluster

    restored = run_sql(psql, host, port, "restored_routes",
                       f"SELECT count(*), max(id) FROM api.routes WHERE path LIKE '/api/v1/dba-{tag}/%'")
    count, top = restored.split("|")
    assert count == "2"
    # the handler is a signature (1.6), restored as it was dumped
    handlers = run_sql(psql, host, port, "restored_routes",
                       f"SELECT string_agg(DISTINCT handler, ',') FROM api.routes WHERE path LIKE '/api/v1/dba-{tag}/%'")
    assert handlers == "api.health_check()"
    new_id = run_sql(psql, host, port, "restored_routes", f"""
INSERT INTO api.routes (method, path, handler, auth, params)
VALUES ('GET', '/api/v1/dba-{tag}/three', 'api.health_check()', 'none', '[]')
RETURNING id""")
    assert int(new_id) > int(top)


def test_a_dba_edit_of_a_built_in_route_survives_a_restore(dba_sql, second_cluster):
    """A built-in route a DBA changed is dumped (1.5: edited) and restored
    in place of the one CREATE EXTENSION installs, with its id; before, the
    restore brought back the built-in route as installed."""
    psql = os.environ["PGAPP_PSQL"]
    path = "/api/v1/password-recovery/{email}"
    where = f"method = 'POST' AND path = '{path}'"
    dba_sql(f"UPDATE api.routes SET auth = 'superuser' WHERE {where}")
    try:
        dump = dump_test_database()
    finally:
        dba_sql(f"UPDATE api.routes SET auth = 'none' WHERE {where}")
    restore_into(second_cluster, "restored_edit", dump)
    host, port = second_cluster
    out = run_sql(psql, host, port, "restored_edit",
                  f"SELECT count(*), min(auth) FROM api.routes WHERE {where}")
    assert out == "1|superuser"
