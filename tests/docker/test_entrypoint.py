"""The db image's entrypoint (sql/docker/entrypoint.sh) and health check
without Docker: a stand-in for the official docker-entrypoint.sh runs the
server of a fresh local cluster.  The set-up runs once the server accepts
TCP connections, the health check turns green only after it, a stop signal
is forwarded and ends the server, and a refused configuration stops the
server and exits non-zero."""
import os
import signal
import subprocess
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
