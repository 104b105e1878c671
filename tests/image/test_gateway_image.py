"""The gateway image, as Dockerfile.gateway builds it.

scripts/suite-image.sh replays the Dockerfile's runtime target in Debian
chroots (scripts/image-build.py) and points PGAPP_IMAGE_DIR at the result:
rootfs/ (the image's files) and config.json (user, env, entrypoint,
healthcheck, stop signal).  These tests start the image's entrypoint as
its user, with its environment plus what a compose file would add, on a
loopback port, against the test cluster.
"""
import os

import pytest
import requests

from conftest import API, env, free_port, wait_for
from image_harness import Container, Image

IMAGE = Image(env("PGAPP_IMAGE_DIR"))
CONFIG = IMAGE.config
ROOTFS = IMAGE.rootfs


@pytest.fixture
def container(tmp_path):
    c = Container(IMAGE, tmp_path / "container.log")
    try:
        assert wait_for(c.ready, timeout=20), "the image's gateway did not become ready:\n" + c.logged()
        yield c
    finally:
        c.stop()


def test_entrypoint_and_its_libraries_resolve_in_the_image():
    which = IMAGE.run(["sh", "-c", 'command -v "$1"', "sh", CONFIG["entrypoint"][0]])
    assert which.returncode == 0, which.stderr
    binary = which.stdout.strip()
    ldd = IMAGE.run(["ldd", binary], as_root=True)
    assert ldd.returncode == 0, ldd.stderr
    assert "libmicrohttpd" in ldd.stdout and "libpq" in ldd.stdout
    assert "not found" not in ldd.stdout, ldd.stdout


def test_runtime_image_carries_no_toolchain_and_no_headers():
    for path in ("usr/bin/gcc", "usr/bin/cc", "usr/bin/make", "usr/bin/ld",
                 "usr/include/microhttpd.h", "usr/include/postgresql/libpq-fe.h"):
        assert not os.path.lexists(os.path.join(ROOTFS, path)), path


def test_image_user_is_unprivileged_without_a_login_shell():
    uid, gid, shell = IMAGE.user()
    assert uid >= 1000 and gid != 0
    assert shell.endswith("nologin")


def test_image_serves_the_api_as_its_user(container, superuser_token):
    with open("/proc/%d/status" % container.proc.pid) as f:
        uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
    assert {int(u) for u in uids} == {IMAGE.user()[0]}
    r = requests.get(container.url + API + "/utils/health-check/", timeout=10)
    assert r.status_code == 200 and r.json() is True
    r = requests.post(container.url + API + "/login/access-token", timeout=30,
                      data={"username": env("FIRST_SUPERUSER"),
                            "password": env("FIRST_SUPERUSER_PASSWORD")})
    assert r.status_code == 200, r.text
    me = requests.get(container.url + API + "/users/me", timeout=10,
                      headers={"Authorization": "Bearer " + r.json()["access_token"]})
    assert me.status_code == 200 and me.json()["email"] == env("FIRST_SUPERUSER")
    r = requests.get(container.url + API + "/users/me", timeout=10)
    assert r.status_code == 401 and "detail" in r.json()


def test_healthcheck_passes_on_a_ready_gateway_and_fails_without_one(container):
    assert CONFIG["healthcheck"], "the image has no HEALTHCHECK"
    ok = IMAGE.run(CONFIG["healthcheck"], container.env)
    assert ok.returncode == 0, ok.stderr
    nobody_there = dict(container.env, PORT=str(free_port()))
    down = IMAGE.run(CONFIG["healthcheck"], nobody_there)
    assert down.returncode != 0


def test_healthcheck_fails_while_the_database_is_unreachable(tmp_path):
    # the gateway runs (it waits for the database) but is not ready
    c = Container(IMAGE, tmp_path / "container.log", DATABASE_URL="postgresql://nobody@127.0.0.1:%d/none" % free_port())
    try:
        assert wait_for(lambda: c.status("/live") == 200, timeout=20), c.logged()
        assert c.status("/ready") == 503
        r = IMAGE.run(CONFIG["healthcheck"], c.env)
        assert r.returncode != 0
    finally:
        c.stop()


def test_stop_signal_drains_and_exits_zero(container):
    assert container.stop() == 0, container.logged()
    assert "stopped" in container.logged()
