"""The gateway's dev image (Dockerfile.gateway, target dev), as
docker-compose.yml runs it: the checkout mounted read-only at /src, CMD
dev-gateway (scripts/dev-gateway.sh) building and running the gateway and
rebuilding it when a source changes.

One container for the module; the tests run in order, each a step of a
developer's session: start, edit, break the build, crash, stop.
"""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT, env, wait_for
from image_harness import Container, Image

IMAGE = Image(env("PGAPP_DEV_IMAGE_DIR"))
MAIN_C = os.path.join("gateway", "src", "main.c")


def running_pids(log):
    return [int(p) for p in re.findall(r"dev-gateway: gateway running \(pid (\d+)\)", log)]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """The dev container with a scratch copy of the sources mounted as
    compose mounts the checkout (read-only, over the image's /src)."""
    tmp = tmp_path_factory.mktemp("dev-image")
    src = tmp / "src"
    shutil.copytree(os.path.join(ROOT, "gateway"), src / "gateway",
                    ignore=shutil.ignore_patterns("*.o", "pgapp-gateway", "run_tests"))
    mountpoint = os.path.join(IMAGE.rootfs, "src")
    subprocess.run(["mount", "--bind", str(src), mountpoint], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", mountpoint], check=True)
    c = Container(IMAGE, tmp / "dev.log")
    c.src = src
    try:
        yield c
    finally:
        c.stop()
        for pid in running_pids(c.logged()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        # a killed gateway holds its working directory in /src until it is gone
        if not wait_for(lambda: subprocess.run(["umount", mountpoint]).returncode == 0, timeout=10):
            subprocess.run(["umount", "-l", mountpoint], check=True)


def test_dev_image_builds_the_mounted_sources_and_serves(dev):
    assert IMAGE.config["cmd"] == ["dev-gateway"] and IMAGE.config["workdir"] == "/src"
    assert wait_for(dev.ready, timeout=120), dev.logged()
    assert len(running_pids(dev.logged())) == 1


def test_an_edit_rebuilds_and_restarts_the_gateway(dev):
    first = running_pids(dev.logged())[-1]
    with open(dev.src / MAIN_C, "a") as f:
        f.write("/* edited by test_gateway_dev_image */\n")
    assert wait_for(lambda: len(running_pids(dev.logged())) == 2, timeout=120), dev.logged()
    second = running_pids(dev.logged())[-1]
    assert second != first and not alive(first)
    assert wait_for(dev.ready, timeout=20), dev.logged()


def test_a_broken_build_keeps_the_running_gateway(dev):
    running = running_pids(dev.logged())[-1]
    with open(dev.src / MAIN_C, "a") as f:
        f.write("#error broken on purpose by test_gateway_dev_image\n")
    assert wait_for(lambda: "build failed; the previous gateway keeps running" in dev.logged(),
                    timeout=120), dev.logged()
    assert "broken on purpose" in dev.logged()        # the compiler's message
    assert alive(running) and dev.ready()
    assert running_pids(dev.logged())[-1] == running


def test_a_gateway_that_dies_is_started_again(dev):
    victim = running_pids(dev.logged())[-1]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: "restarting in 2 s" in dev.logged(), timeout=20), dev.logged()
    assert wait_for(dev.ready, timeout=20), dev.logged()


def test_the_mounted_sources_stay_clean(dev):
    built = [os.path.join(d, f) for d, _, files in os.walk(dev.src) for f in files
             if f.endswith(".o") or f == "pgapp-gateway"]
    assert built == []


def test_stop_signal_stops_the_loop_and_the_gateway(dev):
    gateway_pids = running_pids(dev.logged())
    assert dev.stop(timeout=20) == 0, dev.logged()
    assert wait_for(lambda: not any(alive(p) for p in gateway_pids), timeout=10)
