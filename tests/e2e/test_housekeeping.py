"""pgapp.prune() runs inside logins, successful and failed (SPEC §5, §9),
so it must never wait: not for a row another transaction holds (a refresh,
a throttle update), not for another prune; and two mail senders never
take the same mail (pgapp.mail_pending).  What prune deletes and keeps,
that failed logins alone prune, and the mail functions' grants and errors
are pinned in tests/regress/sql/40_housekeeping.sql."""
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


def test_two_mail_senders_never_get_the_same_mail():
    """pgapp.mail_pending locks what it returns for the sender's transaction
    and skips what another sender holds: no mail is sent twice, and no
    sender waits for another."""
    tag = uuid.uuid4().hex[:12]
    ids = [psql("INSERT INTO pgapp.mail_outbox (recipient, subject, html, expires_at) "
                "VALUES (:'r', 's', '<p>link</p>', now() + interval '1 hour') RETURNING id",
                variables={"r": f"hk-{tag}-{n}@example.com"}) for n in range(2)]
    mine = f"recipient LIKE 'hk-{tag}-%'"
    def pending():
        t0 = time.monotonic()
        out = psql(f"SET lock_timeout = '10s'; SELECT string_agg(id::text, ' ' ORDER BY id) "
                   f"FROM pgapp.mail_pending(1000) WHERE {mine}")
        assert time.monotonic() - t0 < 5      # skipped, not waited for
        return out.split()

    try:
        # a sender still sending what it took: the next one gets none of it
        holder = OpenTransaction("SELECT count(*) FROM pgapp.mail_pending(1000);")
        try:
            assert pending() == []
        finally:
            holder.commit()
        # one of the two held (as a sender that took it with a smaller batch)
        holder = OpenTransaction(f"SELECT 1 FROM pgapp.mail_outbox WHERE id = {ids[0]} FOR UPDATE;")
        try:
            assert pending() == [ids[1]]
        finally:
            holder.commit()
        assert pending() == ids
    finally:
        psql(f"DELETE FROM pgapp.mail_outbox WHERE {mine}")
