"""The gateway image, as Dockerfile.gateway builds it.

scripts/suite-image.sh replays the Dockerfile's runtime target in Debian
chroots (scripts/image-build.py) and points PGAPP_IMAGE_DIR at the result:
rootfs/ (the image's files) and config.json (user, env, entrypoint,
healthcheck, stop signal).  These tests start the image's entrypoint as
its user, with its environment plus what a compose file would add, on a
loopback port, against the test cluster.
"""
import json
import os
import signal
import socket
import subprocess

import pytest
import requests

from conftest import API, env, wait_for

IMAGE = env("PGAPP_IMAGE_DIR")
ROOTFS = os.path.realpath(os.path.join(IMAGE, "rootfs"))
with open(os.path.join(IMAGE, "config.json")) as f:
    CONFIG = json.load(f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_user():
    """(uid, gid, shell) of the image's USER, from the image's /etc/passwd."""
    with open(os.path.join(ROOTFS, "etc/passwd")) as f:
        for line in f:
            name, _, uid, gid, _, _, shell = line.rstrip("\n").split(":")
            if CONFIG["user"] in (name, uid):
                return int(uid), int(gid), shell
    raise AssertionError(f"USER {CONFIG['user']!r} is not in the image's /etc/passwd")


def in_image(argv, environ, as_root=False):
    """argv run inside the image: its user, its WORKDIR, only `environ`."""
    spec = [] if as_root else ["--userspec=%d:%d" % image_user()[:2]]
    return (["chroot"] + spec + [ROOTFS, "/usr/bin/env", "-i"] +
            ["%s=%s" % kv for kv in environ.items()] +
            ["/bin/sh", "-c", 'cd "$0" && exec "$@"', CONFIG["workdir"]] + argv)


def container_env(**extra):
    """The image's ENV plus what docker-compose.yml passes (loopback here)."""
    e = dict(CONFIG["env"])
    e.update(DATABASE_URL=env("PGAPP_GATEWAY_DATABASE_URL"),
             GATEWAY_LISTEN="127.0.0.1", PORT=str(free_port()), GATEWAY_WORKERS="2")
    e.update(extra)
    return e


class Container:
    def __init__(self, tmp_path, **extra_env):
        self.env = container_env(**extra_env)
        self.url = "http://127.0.0.1:%s" % self.env["PORT"]
        self.log_path = tmp_path / "container.log"
        self.log = open(self.log_path, "w")
        argv = (CONFIG["entrypoint"] or []) + (CONFIG["cmd"] or [])
        self.proc = subprocess.Popen(in_image(argv, self.env), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def status(self, path):
        try:
            return requests.get(self.url + path, timeout=2).status_code
        except requests.RequestException:
            return None

    def ready(self):
        return self.status("/ready") == 200

    def stop(self):
        """`docker stop`: the image's STOPSIGNAL, then the exit status."""
        sig = getattr(signal, CONFIG["stopsignal"])
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    def logged(self):
        return self.log_path.read_text()


@pytest.fixture
def container(tmp_path):
    c = Container(tmp_path)
    try:
        assert wait_for(c.ready, timeout=20), "the image's gateway did not become ready:\n" + c.logged()
        yield c
    finally:
        c.stop()


def test_entrypoint_and_its_libraries_resolve_in_the_image():
    which = subprocess.run(in_image(["sh", "-c", 'command -v "$1"', "sh", CONFIG["entrypoint"][0]],
                                    CONFIG["env"]), capture_output=True, text=True)
    assert which.returncode == 0, which.stderr
    binary = which.stdout.strip()
    ldd = subprocess.run(in_image(["ldd", binary], CONFIG["env"], as_root=True),
                         capture_output=True, text=True)
    assert ldd.returncode == 0, ldd.stderr
    assert "libmicrohttpd" in ldd.stdout and "libpq" in ldd.stdout
    assert "not found" not in ldd.stdout, ldd.stdout


def test_runtime_image_carries_no_toolchain_and_no_headers():
    for path in ("usr/bin/gcc", "usr/bin/cc", "usr/bin/make", "usr/bin/ld",
                 "usr/include/microhttpd.h", "usr/include/postgresql/libpq-fe.h"):
        assert not os.path.lexists(os.path.join(ROOTFS, path)), path


def test_image_user_is_unprivileged_without_a_login_shell():
    uid, gid, shell = image_user()
    assert uid >= 1000 and gid != 0
    assert shell.endswith("nologin")


def test_image_serves_the_api_as_its_user(container, superuser_token):
    with open("/proc/%d/status" % container.proc.pid) as f:
        uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
    assert {int(u) for u in uids} == {image_user()[0]}
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
    ok = subprocess.run(in_image(CONFIG["healthcheck"], container.env), capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    nobody_there = dict(container.env, PORT=str(free_port()))
    down = subprocess.run(in_image(CONFIG["healthcheck"], nobody_there), capture_output=True, text=True)
    assert down.returncode != 0


def test_healthcheck_fails_while_the_database_is_unreachable(tmp_path):
    # the gateway runs (it waits for the database) but is not ready
    c = Container(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:%d/none" % free_port())
    try:
        assert wait_for(lambda: c.status("/live") == 200, timeout=20), c.logged()
        assert c.status("/ready") == 503
        r = subprocess.run(in_image(CONFIG["healthcheck"], c.env), capture_output=True, text=True)
        assert r.returncode != 0
    finally:
        c.stop()


def test_stop_signal_drains_and_exits_zero(container):
    assert container.stop() == 0, container.logged()
    assert "stopped" in container.logged()
