"""pgapp.prune() runs inside logins, successful and failed (SPEC §5, §9),
so it must never wait: not for a row another transaction holds (a refresh,
a throttle update), not for another prune.  What it deletes and keeps,
that failed logins alone prune, and pgapp.mail_mark_sent are pinned in
tests/regress/sql/40_housekeeping.sql."""
import os
import subprocess
import time
import uuid

import pytest

from conftest import env, psql


class OpenTransaction:
    """SQL run in a transaction left open in a psql of its own."""

    def __init__(self, sql):
        self.proc = subprocess.Popen(
            [env("PGAPP_PSQL"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-d", os.environ.get("PGDATABASE", "pgapp")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\n" + sql + "\n\\echo open\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if line == "open\n":
                return
            if not line:
                raise RuntimeError("psql failed: " + self.proc.stderr.read())

    def commit(self):
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        assert self.proc.wait(30) == 0, self.proc.stderr.read()


@pytest.fixture
def stale():
    """An expired session with its refresh token and an expired throttle
    entry: all three are prune's to delete."""
    tag = uuid.uuid4().hex[:12]
    uid = psql("INSERT INTO pgapp.users (email) VALUES (:'e') RETURNING id",
               variables={"e": f"hk-{tag}@example.com"})
    sid = psql("INSERT INTO pgapp.sessions (user_id, expires_at) VALUES (:'u', now() - interval '2 days') "
               "RETURNING id", variables={"u": uid})
    psql("INSERT INTO pgapp.refresh_tokens (token_hash, session_id, expires_at) "
         "VALUES (sha256(convert_to(:'t', 'UTF8')), :'s', now() - interval '2 days')",
         variables={"t": tag, "s": sid})
    key = "hk:" + tag
    psql("INSERT INTO pgapp.login_throttle (key, window_start, failures) "
         "VALUES (:'k', now() - interval '2 hours', 1)", variables={"k": key})
    yield {"session": sid, "key": key}
    psql("DELETE FROM pgapp.users WHERE id = :'u'", variables={"u": uid})
    psql("DELETE FROM pgapp.login_throttle WHERE key = :'k'", variables={"k": key})


def left(stale):
    return psql("SELECT (SELECT count(*) FROM pgapp.sessions WHERE id = :'s') + "
                "(SELECT count(*) FROM pgapp.refresh_tokens WHERE session_id = :'s') + "
                "(SELECT count(*) FROM pgapp.login_throttle WHERE key = :'k')",
                variables={"s": stale["session"], "k": stale["key"]})


def prune_in_time():
    """A prune that would wait gives up after lock_timeout with an error."""
    t0 = time.monotonic()
    psql("SET lock_timeout = '10s'; SELECT pgapp.prune()")
    return time.monotonic() - t0 < 5


def test_prune_skips_rows_in_use(stale):
    # as a refresh holds its token and a failed login its throttle entry
    holder = OpenTransaction(
        f"SELECT 1 FROM pgapp.refresh_tokens WHERE session_id = '{stale['session']}' FOR UPDATE;"
        f"SELECT 1 FROM pgapp.login_throttle WHERE key = '{stale['key']}' FOR UPDATE;")
    try:
        assert prune_in_time()
        assert left(stale) == "3"          # left for the next prune
    finally:
        holder.commit()
    psql("SELECT pgapp.prune()")
    assert left(stale) == "0"


def test_prune_does_not_wait_for_another_prune(stale):
    holder = OpenTransaction("SELECT pgapp.prune();")   # deleted them, not committed
    try:
        assert prune_in_time()
    finally:
        holder.commit()
    assert left(stale) == "0"
