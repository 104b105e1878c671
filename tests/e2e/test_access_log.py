"""The access log: one line per request, batched (GATEWAY_LOG_FLUSH_MS).

Access lines wait in a buffer for at most the flush interval and are
written with one write(2); any other line writes the waiting batch first,
so the log stays in order, and a clean stop loses nothing.
"""
import re
import threading
import time

import requests

from gateway_harness import Gateway

HEALTH = "/api/v1/utils/health-check/"
ACCESS = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info access method=GET '
                    r'path="[^"]*" status=\d{3} ms=\d+\.\d rid=[0-9a-f]{16} client=\S+$')


def request_ids(url, path, n):
    s = requests.Session()
    return [s.get(url + path, timeout=10).headers["X-Request-Id"] for _ in range(n)]


def test_access_lines_wait_for_the_flush_interval():
    with Gateway(GATEWAY_LOG_FLUSH_MS=5000) as gw:
        rid, = request_ids(gw.url, HEALTH, 1)
        time.sleep(0.5)
        assert gw.access_line(rid) is None, "written before the flush interval"
        line = gw.wait_access_line(rid, 15)
        assert line is not None and ACCESS.match(line), line


def test_unbatched_lines_are_written_at_once():
    with Gateway(GATEWAY_LOG_FLUSH_MS=0) as gw:
        for rid in request_ids(gw.url, HEALTH, 3):
            line = gw.wait_access_line(rid, 2)
            assert line is not None and ACCESS.match(line), line


def test_clean_stop_writes_waiting_lines_in_order():
    gw = Gateway(GATEWAY_LOG_FLUSH_MS=10000).start()
    rids = request_ids(gw.url, HEALTH, 3)
    assert all(gw.access_line(r) is None for r in rids)
    assert gw.stop() == 0
    lines = gw.log().splitlines()
    at = [next(i for i, l in enumerate(lines) if f"rid={r}" in l) for r in rids]
    stopping = next(i for i, l in enumerate(lines) if "stopping: no new connections" in l)
    # the batch went out before the next ordinary line, in request order
    assert at == sorted(at) and at[-1] < stopping, lines


def test_full_batch_is_written_early_and_lines_stay_whole():
    """Concurrent requests overflow the 64 KiB batch long before the
    interval: what overflowed is in the log at once, every line intact."""
    gw = Gateway(GATEWAY_LOG_FLUSH_MS=10000, GATEWAY_WORKERS=4).start()
    path = "/api/v1/" + "x" * 300          # 404s with long access lines
    rids = []

    def client():
        got = request_ids(gw.url, path, 150)
        rids.extend(got)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    early = [l for l in gw.log().splitlines() if " access " in l]
    assert len(early) >= 300, len(early)       # 600 lines of ~400 B > 64 KiB
    assert gw.stop() == 0
    access = [l for l in gw.log().splitlines() if " access " in l]
    assert all(ACCESS.match(l) for l in access)
    logged = {re.search(r"rid=(\w+)", l).group(1) for l in access}
    assert set(rids) <= logged and len(rids) == 600
