"""Acknowledged writes survive a crash of either process (SPEC §9).

A writer creates items over HTTP as fast as it can while PostgreSQL is
killed (immediate stop: no checkpoint, WAL replay at start) or while a
gateway is killed with SIGKILL and started again.  Every item answered
200 must be in the database afterwards, exactly once.  Requests without an
answer may or may not have committed; they are not counted either way.

Note: an immediate stop kills the server processes but not the machine,
so this proves commit-before-acknowledge (nothing is answered from a
transaction that did not commit), not fsync to disk; the cluster runs
with fsync on."""
import os
import signal
import sys
import threading
import time
import uuid

import requests

from conftest import API, bearer, cluster, login, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from gateway_harness import Gateway  # noqa: E402


class Writer(threading.Thread):
    """POST /items/ in a loop against url_ref[0]; records what was acknowledged."""

    def __init__(self, url_ref, token, prefix):
        super().__init__(daemon=True)
        self.url_ref, self.token, self.prefix = url_ref, token, prefix
        self.acked = {}          # title -> id
        self.failures = 0
        self.stop = threading.Event()
        self.n = 0

    def run(self):
        with requests.Session() as s:
            while not self.stop.is_set():
                self.n += 1
                title = f"{self.prefix}-{self.n}"
                try:
                    r = s.post(self.url_ref[0] + API + "/items/", json={"title": title},
                               headers=bearer(self.token), timeout=10)
                except requests.RequestException:
                    self.failures += 1
                    time.sleep(0.02)
                    continue
                if r.status_code == 200:
                    body = r.json()
                    assert body["title"] == title
                    self.acked[title] = body["id"]
                else:
                    self.failures += 1
                    time.sleep(0.02)


def fresh_user(api, superuser_token):
    email, password = f"faults-{uuid.uuid4().hex[:12]}@example.com", "pw-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": email, "password": password}, headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    return r.json()["id"], login(api, email, password)["access_token"]


def check_all_present(dba_sql, owner, acked):
    assert acked, "the writer got nothing acknowledged"
    rows = dba_sql("SELECT title || '|' || id FROM pgapp.items WHERE owner_id = :'o'", variables={"o": owner})
    stored = {}
    for line in rows.splitlines():
        title, _, iid = line.partition("|")
        assert title not in stored, f"{title} stored twice"
        stored[title] = iid
    missing = {t: i for t, i in acked.items() if stored.get(t) != i}
    assert not missing, f"{len(missing)} acknowledged items lost: {list(missing)[:5]}"


def wait_healthy(url, timeout=60):
    return wait_for(lambda: requests.get(url + API + "/utils/health-check/", timeout=5).status_code == 200,
                    timeout, 0.2)


def acked_more_than(writer, n, timeout=30):
    return wait_for(lambda: len(writer.acked) > n, timeout, 0.05)


def test_postgres_killed_while_writing(api, base_url, superuser_token, dba_sql):
    owner, token = fresh_user(api, superuser_token)
    w = Writer([base_url], token, "pgkill")
    w.start()
    try:
        assert acked_more_than(w, 20)
        for _ in range(2):
            cluster("stop", mode="immediate")
            time.sleep(0.5)
            cluster("start")
            assert wait_healthy(base_url), "the gateway did not recover after the restart"
            before = len(w.acked)
            assert acked_more_than(w, before + 20), "no write acknowledged after the restart"
    finally:
        w.stop.set()
        w.join(30)
    assert w.failures > 0, "the writer never saw the database down: the test proved nothing"
    check_all_present(dba_sql, owner, w.acked)
    # the owner sees them over HTTP too
    r = api.get("/items/", params={"limit": 1000}, headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["count"] >= len(w.acked)
    listed = {i["id"] for i in r.json()["data"]}
    newest = sorted(w.acked, key=lambda t: int(t.rsplit("-", 1)[1]))[-min(len(w.acked), 100):]
    assert {w.acked[t] for t in newest} <= listed


def test_gateway_killed_while_writing(api, superuser_token, dba_sql):
    owner, token = fresh_user(api, superuser_token)
    gw = Gateway().start()
    url_ref = [gw.url]
    w = Writer(url_ref, token, "gwkill")
    w.start()
    try:
        for _ in range(3):
            assert acked_more_than(w, len(w.acked) + 20)
            gw.signal(signal.SIGKILL)
            gw.wait(10)
            gw.stop()
            # the same port again, as an orchestrator would restart it
            gw = Gateway(PORT=gw.port)
            deadline = time.monotonic() + 20
            while True:
                try:
                    gw.start()
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                    gw = Gateway(PORT=gw.port)
            url_ref[0] = gw.url
        assert acked_more_than(w, len(w.acked) + 20)
    finally:
        w.stop.set()
        w.join(30)
        gw.stop()
    assert w.failures > 0, "the writer never saw the gateway down: the test proved nothing"
    check_all_present(dba_sql, owner, w.acked)
