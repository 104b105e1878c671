"""What a move of a pgapp database to another cluster must keep, shared by
test_pg_upgrade.py (pg_upgrade within a major) and test_major_upgrade.py
(13 -> 17, by pg_upgrade and by dump/restore): populate() fills a database
set up as the db container's entrypoint does (test_init_scripts.Container),
snapshot() reads what a DBA would compare, and the check_* functions check
a database moved from it."""
import difflib
import json
import os
import re
import secrets
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import Gateway  # noqa: E402

from conftest import ROOT, bearer  # noqa: E402


def releases():
    """(the release before the current one, the current one): the newest
    release an upgrade script to the current one starts from."""
    with open(os.path.join(ROOT, "extension", "pgapp.control")) as f:
        current = re.search(r"^default_version = '([0-9.]+)'", f.read(), re.M).group(1)
    starts = [re.match(r"pgapp--([0-9.]+)--", name).group(1) for name in os.listdir(os.path.join(ROOT, "sql"))
              if name.startswith("pgapp--") and name.endswith(f"--{current}.sql")]
    return max(starts, key=lambda v: tuple(map(int, v.split(".")))), current


PREVIOUS, CURRENT = releases()
EDITED = ("POST", "/api/v1/password-recovery/{email}")
ADDED = ("GET", "/api/v1/dba-upgrade/greet/{name}")


def catalog(c):
    with open(os.path.join(ROOT, "tests", "upgrade", "catalog.sql")) as f:
        return c.sql(f.read())


# A table or view whose ACL is exactly its owner's default: the install
# script's REVOKE ... FROM PUBLIC writes that ACL out (so a fresh install
# records it in pg_init_privs), pg_dump writes nothing for it, so after
# pg_upgrade the ACL is null and the init-privs row is gone.  Null means
# the same privileges (the owner's default), so both read alike here.
OWNER_DEFAULT_ACL = re.compile(r" acl=\{pgapp_owner=arwdDxtm?/pgapp_owner\} ")
OWNER_DEFAULT_INIT_PRIVS = re.compile(r"^init-privs (table|view) \S+ type=e acl=\{pgapp_owner=arwdDxtm?/pgapp_owner\}$")


def comparable_catalog(text):
    lines = []
    for line in text.splitlines():
        if OWNER_DEFAULT_INIT_PRIVS.match(line):
            continue
        if line.startswith("relation "):
            line = OWNER_DEFAULT_ACL.sub(" acl= ", line)
        lines.append(line)
    return "\n".join(lines)


def snapshot(c):
    """What the move must keep, as a DBA would read it."""
    return {
        "catalog": comparable_catalog(catalog(c)),
        "extversion": c.sql("SELECT extversion FROM pg_extension WHERE extname = 'pgapp'"),
        "settings": c.settings(),
        "keys": c.keys(),
        "routes": c.sql("SELECT method, path, handler::text, auth, params, builtin, edited FROM api.routes"
                        " WHERE NOT builtin OR edited ORDER BY id"),
        "users": c.sql("SELECT email, is_active, is_superuser FROM pgapp.users ORDER BY email"),
        "items": c.sql("SELECT u.email, i.title FROM pgapp.items i JOIN pgapp.users u ON u.id = i.owner_id"
                       " ORDER BY 1, 2"),
    }


class Populated:
    """The data populate() put in, and what the database looked like."""


def populate(c):
    """A database made with the previous release, then updated to the
    current one by a start of the db container, as a new image does; in it
    users who log in, items, a live session and refresh token, a DBA's
    edit of a built-in route, a DBA's route with its own handler (all made
    before the update), changed settings and a rotated signing key (c: a
    Container on a cluster that has no pgapp yet)."""
    assert c.start(PGAPP_EXTENSION_VERSION=PREVIOUS) is None
    assert c.sql("SELECT extversion FROM pg_extension WHERE extname = 'pgapp'") == PREVIOUS
    p = Populated()
    p.ann = {"email": "ann@example.com", "password": "ann-" + secrets.token_hex(8)}
    p.bob = {"email": "bob@example.com", "password": "bob-" + secrets.token_hex(8)}
    for user in (p.ann, p.bob):
        c.sql("SELECT api.signup(:'email', :'password')", **user)
    tokens = json.loads(c.sql("SELECT api.login(:'email', :'password')", **p.ann))
    # ann's live session: an access token of the first key, a refresh token
    p.ann_token, p.ann_refresh = tokens["access_token"], tokens["refresh_token"]
    c.sql("BEGIN; SELECT api.authenticate(:'t');"
          " SELECT api.item_create('kept one', 'made before the move');"
          " SELECT api.item_create('kept two'); COMMIT;", t=p.ann_token)
    c.sql("UPDATE api.routes SET auth = 'superuser' WHERE method = :'m' AND path = :'p'",
          m=EDITED[0], p=EDITED[1])
    # the handler named by its signature, as text: a DBA's INSERT that
    # works whatever the column's type
    c.sql("""
CREATE SCHEMA dba_upgrade;
CREATE FUNCTION dba_upgrade.greet(name text) RETURNS jsonb LANGUAGE sql STABLE
    AS $$ SELECT jsonb_build_object('hello', name) $$;
REVOKE EXECUTE ON FUNCTION dba_upgrade.greet(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA dba_upgrade TO pgapp_gateway;
GRANT EXECUTE ON FUNCTION dba_upgrade.greet(text) TO pgapp_gateway;
INSERT INTO api.routes (method, path, handler, auth, params)
VALUES (:'m', :'p', 'dba_upgrade.greet(text)', 'none', '[{"name": "name", "in": "path"}]');
""", m=ADDED[0], p=ADDED[1])
    # the next start updates pgapp and applies changed settings and a
    # rotated key
    c.env.update(SECRET_KEY=secrets.token_urlsafe(48), ACCESS_TOKEN_EXPIRE_MINUTES="77", BCRYPT_COST="5")
    c.start()
    assert c.sql("SELECT extversion FROM pg_extension WHERE extname = 'pgapp'") == CURRENT
    assert [signing for _, signing in c.keys()] == [False, True]
    # bob's token: signed with the new key
    p.bob_token = json.loads(c.sql("SELECT api.login(:'email', :'password')", **p.bob))["access_token"]
    p.before = snapshot(c)
    assert "dba_upgrade.greet(text)" in p.before["routes"]
    assert p.before["items"].splitlines() == ["ann@example.com|kept one", "ann@example.com|kept two"]
    assert "ACCESS_TOKEN_EXPIRE_MINUTES|77" in p.before["settings"].splitlines()
    return p


def diff(before, after):
    return "\n".join(difflib.unified_diff(str(before).splitlines(), str(after).splitlines(),
                                          "before", "after", lineterm=""))


def check_kept(p, c, what=("catalog", "extversion", "settings", "keys", "routes", "users", "items")):
    after = snapshot(c)
    for name in what:
        assert after[name] == p.before[name], f"{name} differs:\n{diff(p.before[name], after[name])}"


def check_logins_tokens_refresh(p, c):
    # tokens of both keys, issued before the move, still authenticate
    for user, token in ((p.ann, p.ann_token), (p.bob, p.bob_token)):
        out = c.sql("BEGIN; SELECT api.authenticate(:'t') IS NOT NULL; SELECT api.me() ->> 'email'; COMMIT;",
                    t=token)
        assert out.splitlines() == ["t", user["email"]]
    # the refresh token of the session opened before
    fresh = json.loads(c.sql("SELECT api.refresh_token(:'r')", r=p.ann_refresh))
    assert c.verifies(fresh["access_token"])
    # a password login; ann sees her items, bob none
    for user, count in ((p.ann, "2"), (p.bob, "0")):
        out = c.sql("SELECT api.login(:'email', :'password') ->> 'access_token' AS t \\gset\n"
                    "BEGIN; SELECT api.authenticate(:'t') IS NOT NULL;"
                    " SELECT api.items_list(0, 100) -> 'count'; COMMIT;", **user)
        assert out.splitlines() == ["t", count]


def check_update_and_next_start_change_nothing(p, c, what=("catalog", "extversion", "settings", "keys", "routes",
                                                            "users")):
    """ALTER EXTENSION pgapp UPDATE is a no-op, and the set-up of the db
    container's next start, with the same .env, changes nothing."""
    proc = c.psql("ALTER EXTENSION pgapp UPDATE")
    assert proc.returncode == 0, proc.stderr
    assert f'version "{p.before["extversion"]}" of extension "pgapp" is already installed' in proc.stderr
    c.start()
    check_kept(p, c, what)


def check_gateway(p, c):
    url = f"postgresql://{c.env['GATEWAY_DB_USER']}:{c.env['GATEWAY_DB_PASSWORD']}@127.0.0.1:{c.port}/{c.db}"
    with Gateway(DATABASE_URL=url) as gw:
        api = gw.url + "/api/v1"
        r = requests.get(api + "/users/me", headers=bearer(p.ann_token), timeout=10)
        assert r.status_code == 200 and r.json()["email"] == p.ann["email"], r.text
        r = requests.post(api + "/login/access-token", timeout=10,
                          data={"username": p.bob["email"], "password": p.bob["password"]})
        assert r.status_code == 200, r.text
        r = requests.post(api + "/login/refresh-token", data={"refresh_token": r.json()["refresh_token"]},
                          timeout=10)
        assert r.status_code == 200, r.text
        r = requests.get(api + "/items/", headers=bearer(p.ann_token), timeout=10)
        assert r.status_code == 200, r.text
        assert sorted(i["title"] for i in r.json()["data"]) == ["kept one", "kept two"]
        # the edited built-in route is still closed to all but superusers
        r = requests.post(api + "/password-recovery/ann@example.com", timeout=10)
        assert r.status_code == 401, r.text
        # the DBA's route reaches its own handler
        r = requests.get(api + "/dba-upgrade/greet/world", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"hello": "world"}
