"""SECRET_KEY across restarts (SPEC §4, §7).  Every start of the db
container (and every make run) runs scripts/apply-env.sh, which applies
SECRET_KEY; here it runs the same way against a database of its own per
test.  An unchanged SECRET_KEY must leave alone what a DBA did with
pgapp.key_add / pgapp.key_retire since; a changed one rotates; one equal to
a retired key is refused and changes nothing."""
import os
import subprocess
import uuid

import pytest

from conftest import ROOT, SPEC_VARIABLES, jwt_part, psql

KEY_A = "lifecycle-key-a-" + uuid.uuid4().hex
KEY_B = "lifecycle-key-b-" + uuid.uuid4().hex
KEY_DBA = "lifecycle-dba-key-" + uuid.uuid4().hex


@pytest.fixture
def db():
    name = "pgapp_keys_" + uuid.uuid4().hex[:12]
    yield name
    psql(f"DROP DATABASE IF EXISTS {name}", db="postgres")


def start(db, secret, version=None, **extra):
    """What a start of the db container does: apply-env.sh with this
    environment (SECRET_KEY reaches the server in a file, never as SQL)."""
    env = {k: v for k, v in os.environ.items() if k not in SPEC_VARIABLES}
    env.update(POSTGRES_DB=db, SECRET_KEY=secret, ENVIRONMENT="local",
               PSQL=os.environ["PGAPP_PSQL"], **extra)
    if version:
        env["PGAPP_EXTENSION_VERSION"] = version
    proc = subprocess.run([os.path.join(ROOT, "scripts", "apply-env.sh"), os.environ["PGAPP_CLUSTER_DIR"]],
                          env=env, capture_output=True, text=True, timeout=120)
    assert secret not in proc.stdout + proc.stderr
    return proc


def started(db, secret, **kw):
    proc = start(db, secret, **kw)
    assert proc.returncode == 0, proc.stderr
    return proc


def keyring(db):
    """(kid, retired, signing) of every key, oldest first."""
    out = psql("SELECT kid, coalesce(retired_at <= now(), false), signing FROM pgapp.keys "
               "ORDER BY created_at, kid", db=db)
    return [tuple(line.split("|")) for line in out.splitlines()]


def signing(db):
    return psql("SELECT kid FROM pgapp.keys WHERE signing", db=db)


def key_add(db, secret):
    return psql("SELECT pgapp.key_add(:'s')", db=db, variables={"s": secret})


def key_retire(db, kid):
    psql("SET client_min_messages = error; SELECT pgapp.key_retire(:'k')", db=db, variables={"k": kid})


def token(db):
    return psql("SELECT pgapp.jwt_sign(jsonb_build_object('sub', 'u1', "
                "'exp', extract(epoch FROM now())::bigint + 600))", db=db)


def verifies(db, tok):
    proc = psql("SELECT api.jwt_verify(:'t') ->> 'sub'", db=db, check=False, variables={"t": tok})
    return proc.returncode == 0 and proc.stdout.strip() == "u1"


def kid_of(tok):
    return jwt_part(tok, 0)["kid"]


def test_first_start_applies_secret_key(db):
    started(db, KEY_A)
    ((kid, retired, sign),) = keyring(db)
    assert (retired, sign) == ("f", "t")
    assert psql("SELECT from_environment FROM pgapp.keys", db=db) == "t"
    tok = token(db)
    assert kid_of(tok) == kid and verifies(db, tok)
    # BCRYPT_COST was never set in this database: the default of SPEC §4
    assert psql("SELECT pgapp.setting('BCRYPT_COST'), pgapp.bcrypt_cost()", db=db) == "12|12"


def test_unchanged_secret_key_changes_nothing(db):
    started(db, KEY_A)
    before = keyring(db)
    started(db, KEY_A)
    started(db, KEY_A)
    assert keyring(db) == before


def test_key_added_by_dba_keeps_signing_after_restart(db):
    started(db, KEY_A)
    env_kid = signing(db)
    dba_kid = key_add(db, KEY_DBA)
    assert signing(db) == dba_kid
    started(db, KEY_A)
    assert signing(db) == dba_kid
    assert keyring(db) == [(env_kid, "f", "f"), (dba_kid, "f", "t")]
    assert kid_of(token(db)) == dba_kid


def test_key_retired_by_dba_stays_retired_after_restart(db):
    started(db, KEY_A)
    env_kid = signing(db)
    old_token = token(db)
    dba_kid = key_add(db, KEY_DBA)
    key_retire(db, env_kid)            # e.g. because SECRET_KEY leaked
    assert not verifies(db, old_token)
    proc = started(db, KEY_A)
    assert keyring(db) == [(env_kid, "t", "f"), (dba_kid, "f", "t")]
    assert "SECRET_KEY is a retired signing key" in proc.stderr   # a warning
    assert not verifies(db, old_token)


def test_retired_secret_key_with_no_other_key_is_refused(db):
    started(db, KEY_A)
    key_retire(db, signing(db))
    before = keyring(db)
    proc = start(db, KEY_A)
    assert proc.returncode != 0
    assert "SECRET_KEY is a retired signing key: set a new SECRET_KEY" in proc.stderr, proc.stderr
    assert keyring(db) == before
    started(db, KEY_B)
    assert signing(db) not in [k for k, _, _ in before]


def test_changed_secret_key_equal_to_retired_key_is_refused(db):
    started(db, KEY_A)
    a_kid = signing(db)
    started(db, KEY_B)
    key_retire(db, a_kid)
    before = keyring(db)
    proc = start(db, KEY_A, ACCESS_TOKEN_EXPIRE_MINUTES="7")
    assert proc.returncode != 0
    assert "SECRET_KEY is a retired signing key: set a new SECRET_KEY" in proc.stderr, proc.stderr
    # nothing changed: the keyring, nor the other settings of that start
    assert keyring(db) == before
    assert psql("SELECT pgapp.setting('ACCESS_TOKEN_EXPIRE_MINUTES')", db=db) == "30"


def test_changed_secret_key_rotates(db):
    started(db, KEY_A)
    a_kid = signing(db)
    a_token = token(db)
    started(db, KEY_B)
    b_kid = signing(db)
    assert b_kid != a_kid
    # A's tokens live until they expire (ACCESS_TOKEN_EXPIRE_MINUTES, 30)
    assert psql("SELECT retired_at - now() BETWEEN interval '29 minutes' AND interval '30 minutes' "
                "FROM pgapp.keys WHERE kid = :'k'", db=db, variables={"k": a_kid}) == "t"
    assert verifies(db, a_token)
    b_token = token(db)
    assert kid_of(b_token) == b_kid and verifies(db, b_token)
    before = keyring(db)
    started(db, KEY_B)
    assert keyring(db) == before


def test_update_from_1_2_keeps_a_dba_key_signing(db):
    """A database from before the fix has no record of which key came from
    SECRET_KEY: the first start after the update must still not take
    signing away from a key a DBA added."""
    started(db, KEY_A, version="1.2")
    env_kid = signing(db)
    dba_kid = key_add(db, KEY_DBA)
    started(db, KEY_A)
    assert keyring(db) == [(env_kid, "f", "f"), (dba_kid, "f", "t")]
    assert psql("SELECT extversion FROM pg_extension WHERE extname = 'pgapp'", db=db) != "1.2"
    started(db, KEY_A)
    assert keyring(db) == [(env_kid, "f", "f"), (dba_kid, "f", "t")]
