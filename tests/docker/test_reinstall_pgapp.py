"""`docker compose exec db reinstall-pgapp` (sql/docker/reinstall-pgapp.sh),
the extension's development loop in the db dev image, without Docker: in
the Debian chroot of PostgreSQL 13 or 17 (the image's majors and file
layout; PostgreSQL 15 runs from a private copy of the host's server, where
an install into the system would not be seen, so these tests exist only
in the chroot runs, which CI makes).  The sources are a copy, "mounted"
as the dev image mounts the checkout; the cluster is a fresh one set up
as the image's entrypoint does."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, cluster_env
from test_init_scripts import Container

MAJOR = cluster_env()["PG"]


def inside(cluster, src, *args, **extra):
    """reinstall-pgapp run as the dev image runs it: root, the server's
    bin directory first on PATH, the container's variables."""
    d, port = cluster.dir, cluster.port
    bindir = os.path.join(d, "bin")
    env = dict(cluster.env, PGAPP_SRC=src, PG_MAJOR=MAJOR, PGHOST=os.path.join(d, "sock"),
               PGPORT=str(port), PGDATA=os.path.join(d, "data"),
               PGAPP_SCRIPTS=os.path.join(src, "scripts"),
               PATH=f"/usr/lib/postgresql/{MAJOR}/bin:{bindir}:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra)
    return subprocess.run([os.path.join(ROOT, "scripts", "pgchroot.sh"), "exec", MAJOR, "env", "-i"] +
                          ["%s=%s" % kv for kv in env.items()] + [os.path.join(bindir, "reinstall-pgapp"), *args],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def dev_db(fresh_cluster):
    """The set-up of a first start, the dev image's commands in a bin
    directory, and a copy of the sources, all inside the chroot's tree."""
    c = Container(fresh_cluster)
    c.start()
    bindir = os.path.join(c.dir, "bin")
    os.makedirs(bindir)
    for name, script in (("reinstall-pgapp", "reinstall-pgapp.sh"), ("pgapp-apply-env", "apply-env.sh")):
        shutil.copy2(os.path.join(ROOT, "sql", "docker", script), os.path.join(bindir, name))
    src = os.path.join(c.dir, "src")
    built = shutil.ignore_patterns("*.o", "*.so", "*.bc", "pgapp--*.sql")
    shutil.copytree(os.path.join(ROOT, "extension"), os.path.join(src, "extension"), ignore=built)
    shutil.copytree(os.path.join(ROOT, "sql"), os.path.join(src, "sql"))
    os.makedirs(os.path.join(src, "scripts"))
    for name in ("build-extension.sh", "apply-env.sh", "lib.sh"):
        shutil.copy2(os.path.join(ROOT, "scripts", name), os.path.join(src, "scripts", name))
    c.src = src
    return c


if MAJOR != "15":
    def test_reinstall_rebuilds_installs_and_keeps_the_data(dev_db):
        dev_db.sql("INSERT INTO pgapp.users (email, full_name) VALUES ('kept@example.com', 'Kept')")
        p = inside(dev_db, dev_db.src)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"pgapp built and installed for PostgreSQL {MAJOR}" in p.stderr
        assert "pgapp-apply-env: pgapp is installed" in p.stderr
        assert dev_db.sql("SELECT count(*) FROM pgapp.users WHERE email = 'kept@example.com'") == "1"
        assert dev_db.verifies(dev_db.login())
        # the build ran in a scratch copy: the mounted tree got no build output
        built = [f for _, _, files in os.walk(dev_db.src) for f in files
                 if f.endswith((".o", ".so", ".bc")) or (f.startswith("pgapp--") and "extension" in f)]
        assert built == []

    def test_reinstall_recreate_starts_from_an_empty_extension(dev_db):
        dev_db.sql("INSERT INTO pgapp.users (email, full_name) VALUES ('gone@example.com', 'Gone')")
        p = inside(dev_db, dev_db.src, "--recreate")
        assert p.returncode == 0, p.stdout + p.stderr
        assert dev_db.sql("SELECT count(*) FROM pgapp.users WHERE email = 'gone@example.com'") == "0"
        # the environment applied again: the first superuser and a key are back
        assert dev_db.verifies(dev_db.login())

    def test_reinstall_without_mounted_sources_says_so(dev_db):
        missing = os.path.join(dev_db.dir, "no-sources")
        p = inside(dev_db, missing)
        assert p.returncode == 1
        assert p.stderr.strip() == \
            f"reinstall-pgapp: no sources at {missing} (the dev image mounts them there)"
