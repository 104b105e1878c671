"""The db image's entrypoint (sql/docker/entrypoint.sh) and health check
without Docker: a stand-in for the official docker-entrypoint.sh runs the
server of a fresh local cluster.  The set-up runs once the server accepts
TCP connections, the health check turns green only after it, a stop signal
is forwarded and ends the server, and a refused configuration stops the
server and exits non-zero."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SPEC_VARIABLES, cluster_env, cluster_sh, dotenv, scratch_cluster

DOCKER = os.path.join(ROOT, "sql", "docker")


@pytest.fixture
def stopped_cluster():
    with scratch_cluster("entry", running=False) as c:
        yield c


def image_env(d, port, **overrides):
    """A PATH and environment like the image's: pgapp-* commands, and a
    docker-entrypoint.sh that execs the server as postgres."""
    bindir = cluster_sh("bindir")
    fake = os.path.join(d, "bin")
    os.makedirs(fake, exist_ok=True)
    postgres = cluster_sh("bin", "postgres")
    if cluster_env()["PG"] == "15" and os.geteuid() == 0:
        run = f'exec setpriv --reuid=postgres --regid=postgres --init-groups "{postgres}"'
    else:
        run = f'exec "{postgres}"'  # the chroot wrapper switches user itself
    with open(os.path.join(fake, "docker-entrypoint.sh"), "w") as f:
        f.write(f'#!/bin/sh\n# stand-in for the official entrypoint\nshift\n{run} -D "$PGDATA" "$@"\n')
    os.chmod(os.path.join(fake, "docker-entrypoint.sh"), 0o755)
    for name, script in (("pgapp-apply-env", "apply-env.sh"), ("pgapp-healthcheck", "healthcheck.sh")):
        link = os.path.join(fake, name)
        if not os.path.exists(link):
            os.symlink(os.path.join(DOCKER, script), link)
    env = {k: v for k, v in os.environ.items() if k not in SPEC_VARIABLES and not k.startswith("PG")}
    env.update(dotenv(os.path.join(ROOT, ".env.example")))
    env.update(POSTGRES_USER="postgres", POSTGRES_DB="pgapp_entry", BCRYPT_COST="4",
               PGDATA=os.path.join(d, "data"), PGHOST=os.path.join(d, "sock"), PGPORT=str(port),
               PGAPP_SCRIPTS=os.path.join(ROOT, "scripts"), PGAPP_MARKER=os.path.join(d, "applied"),
               PSQL=os.path.join(bindir, "psql"),
               PATH=f"{fake}:{bindir}:/usr/bin:/bin:/usr/sbin:/sbin")
    env.update(overrides)
    return env


def healthy(env):
    return subprocess.run([os.path.join(DOCKER, "healthcheck.sh")], env=env,
                          capture_output=True).returncode == 0


def test_setup_then_healthy_then_clean_stop(stopped_cluster):
    d, port = stopped_cluster
    env = image_env(d, port)
    assert not healthy(env)
    proc = subprocess.Popen([os.path.join(DOCKER, "entrypoint.sh"), "postgres"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not healthy(env):
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "not healthy after 60 s"
            time.sleep(0.3)
        out = subprocess.run([env["PSQL"], "-X", "-At", "-h", env["PGHOST"], "-p", str(port), "-U", "postgres",
                              "-d", "pgapp_entry", "-c", "SELECT count(*) FROM pgapp.keys WHERE signing"],
                             capture_output=True, text=True)
        assert out.stdout.strip() == "1", out.stderr
        proc.send_signal(signal.SIGINT)  # the image's STOPSIGNAL
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not os.path.exists(os.path.join(d, "data", "postmaster.pid"))


def test_refused_configuration_stops_the_server(stopped_cluster):
    d, port = stopped_cluster
    # the marked development key outside ENVIRONMENT=local
    env = image_env(d, port, ENVIRONMENT="production")
    proc = subprocess.Popen([os.path.join(DOCKER, "entrypoint.sh"), "postgres"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rc = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read()
    assert rc != 0, out
    assert "applying the environment failed" in out
    assert not healthy(env)
    assert not os.path.exists(os.path.join(d, "data", "postmaster.pid"))


@pytest.mark.parametrize("status", [0, 3])
def test_the_stopped_servers_own_status_is_the_entrypoints(tmp_path, status):
    """A server that stops at once on the forwarded signal can be reaped by
    bash between the interrupted `wait` and the entrypoint's `kill -0`; the
    entrypoint then exited with the interruption's 130 instead of the
    server's status (about 1 stop in 4 with this stand-in).  A stand-in
    server (it exits with STATUS on SIGINT at once) and a pg_isready that
    never answers: no cluster needed."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker-entrypoint.sh").write_text(
        "#!%s\nimport os, signal\n"
        "signal.signal(signal.SIGINT, lambda *_: os._exit(%d))\n"
        "open(os.environ['READY'], 'w').close()\n"
        "while True:\n    signal.pause()\n" % (sys.executable, status))
    (fake / "pg_isready").write_text("#!/bin/sh\nexit 2\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % fake, PGAPP_MARKER=str(tmp_path / "applied"),
               READY=str(tmp_path / "ready"))
    for _ in range(12):
        (tmp_path / "ready").unlink(missing_ok=True)
        proc = subprocess.Popen([os.path.join(DOCKER, "entrypoint.sh"), "postgres"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 30
            while not (tmp_path / "ready").exists():
                assert time.time() < deadline and proc.poll() is None, proc.stdout.read()
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == status, proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
