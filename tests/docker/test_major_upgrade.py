"""A pgapp database moved from PostgreSQL 13 (the postgres:13 image's
major, end-of-life) to 17 (README, DBA guide, and docs/DOCKER.md, "Moving
to a newer PostgreSQL major"), both ways a DBA does it:
  * pg_upgrade: 17's pg_upgrade with 13's server binaries beside its own;
  * dump and restore, the Docker way: pg_dump (17's over TCP, as
    PostgreSQL advises, and 13's own, as `docker compose exec db pg_dump`
    before the image changes), then pg_restore into a fresh volume whose
    first start installed pgapp (docs/DOCKER.md, Backups).
The 13 database is populated as in test_pg_upgrade.py (upgrade_checks),
and every check there holds after the move; the catalog is a fresh 17
install's.

Both servers run inside PostgreSQL 17's Debian chroot (trixie): 13's
server binaries, its pgapp and the bullseye libraries they need are copied
from PostgreSQL 13's chroot (scripts/pgchroot.sh) into this test's
directory, as a DBA installs the old major's packages beside the new one.
This runs in the PostgreSQL 17 runs only (make test PG=17; CI), which need
root anyway; PostgreSQL 13's chroot is made or updated first."""
import os
import secrets
import shutil
import subprocess

import pytest

from conftest import ROOT, cluster_env, cluster_sh, free_port, scratch_dir
from test_init_scripts import Container
from test_pg_upgrade import pg_user_command, pg_user_dir, run_pg_upgrade, stop_cluster
import upgrade_checks as checks

MAJOR = cluster_env()["PG"]
OLD = "13"
DB = "pgapp"
PGCHROOT = os.path.join(ROOT, "scripts", "pgchroot.sh")
# glibc's own libraries: the chroot's serve both majors
GLIBC = ("libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "libresolv.so", "ld-linux")
OLD_PROGRAMS = ("postgres", "pg_ctl", "pg_controldata", "pg_resetwal", "initdb", "pg_dump")


def run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd[:4]}...: {proc.stdout}{proc.stderr}"
    return proc.stdout


def old_major_beside(target):
    """13's server, its pgapp and the libraries they need, copied from its
    chroot into target; returns the directory of wrappers (one per program
    of OLD_PROGRAMS) that run them with those libraries, from inside 17's
    chroot.  The copy keeps Debian's layout, from which PostgreSQL finds
    its lib and share directories (relative to its binaries)."""
    root = run([PGCHROOT, "ensure", OLD]).strip()
    run([PGCHROOT, "build", OLD])
    tree = os.path.join(target, "pg13")
    lib, share = f"usr/lib/postgresql/{OLD}", f"usr/share/postgresql/{OLD}"
    shutil.copytree(os.path.join(root, lib, "bin"), os.path.join(tree, lib, "bin"), symlinks=True)
    shutil.copytree(os.path.join(root, lib, "lib"), os.path.join(tree, lib, "lib"), symlinks=True,
                    ignore=lambda d, names: [n for n in names if not n.endswith(".so") or n == "llvmjit.so"])
    shutil.copytree(os.path.join(root, share), os.path.join(tree, share), symlinks=True)
    needed = set()
    for sub in ("bin", "lib"):
        for name in os.listdir(os.path.join(tree, lib, sub)):
            out = run(["chroot", root, "ldd", f"/{lib}/{sub}/{name}"]) if name in OLD_PROGRAMS or sub == "lib" else ""
            needed |= {f.split()[2] for f in out.splitlines() if "=> /" in f}
    libs = os.path.join(tree, "lib")
    os.makedirs(libs)
    for path in needed:
        if not os.path.basename(path).startswith(GLIBC):
            shutil.copy2(os.path.join(root, path.lstrip("/")), libs)
    wrappers = os.path.join(target, "bin13")
    os.makedirs(wrappers)
    for name in OLD_PROGRAMS:
        with open(os.path.join(wrappers, name), "w") as f:
            f.write(f'#!/bin/sh\nLD_LIBRARY_PATH={libs} exec {tree}/{lib}/bin/{name} "$@"\n')
        os.chmod(os.path.join(wrappers, name), 0o755)
    for d, _, _ in os.walk(target):
        os.chmod(d, 0o755)
    return wrappers


class OldCluster:
    """A PostgreSQL 13 cluster set up as cluster.sh create does, run by
    13's binaries inside 17's chroot."""

    def __init__(self, d, bindir):
        self.dir, self.port, self.bindir = d, free_port(), bindir

    def pg(self, program, *args):
        return run(pg_user_command(self.dir, f"{self.bindir}/{program}", *args))

    def create(self):
        pg_user_dir(self.dir)
        pg_user_dir(os.path.join(self.dir, "sock"))
        self.pg("initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust",
                "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
        with open(f"{self.dir}/data/postgresql.conf", "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.dir}/sock'\n")
        with open(f"{self.dir}/data/pg_hba.conf", "w") as f:
            f.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.start()

    def start(self):
        self.pg("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/postgres.log", "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        if os.path.exists(f"{self.dir}/data/postmaster.pid"):
            subprocess.run(pg_user_command(self.dir, f"{self.bindir}/pg_ctl", "-D", f"{self.dir}/data",
                                           "-m", mode, "-w", "stop"), capture_output=True)


class Old:
    """The populated 13 database, its two dumps, the cluster stopped."""


if MAJOR == "17":
    @pytest.fixture(scope="module")
    def old13():
        with scratch_dir("major") as d:
            o = Old()
            o.dir = d
            o.cluster = OldCluster(os.path.join(d, "old"), old_major_beside(d))
            try:
                o.cluster.create()
                c = o.container = Container((o.cluster.dir, o.cluster.port), db=DB)
                o.populated = checks.populate(c)
                assert c.sql("SHOW server_version_num")[:2] == OLD
                # 17's pg_dump over TCP (the superuser needs a password
                # there), and 13's own over its socket
                password = secrets.token_hex(16)
                c.sql("ALTER ROLE postgres PASSWORD :'pw'", pw=password)
                o.dumps = {
                    "dump17": subprocess.run(
                        [cluster_sh("bin", "pg_dump"), "-Fc", "-h", "127.0.0.1", "-p", str(o.cluster.port),
                         "-U", "postgres", DB], capture_output=True, env=dict(cluster_env(), PGPASSWORD=password)),
                    "dump13": subprocess.run(
                        pg_user_command(d, f"{o.cluster.bindir}/pg_dump", "-Fc", "-h", f"{o.cluster.dir}/sock",
                                        "-p", str(o.cluster.port), "-U", "postgres", DB), capture_output=True),
                }
                o.cluster.stop()
                yield o
            finally:
                o.cluster.stop("immediate")

    @pytest.fixture(scope="module")
    def restored(old13):
        """A 17 cluster; in it, each dump restored as on a fresh volume: the
        first start installs pgapp (the fresh catalog), the restore of
        docs/DOCKER.md, the next start.  (fresh catalog, {way: Container})"""
        d = os.path.join(old13.dir, "restored")
        port = free_port()
        try:
            cluster_sh("create", d, str(port))
            databases, fresh = {}, None
            for way, dump in old13.dumps.items():
                assert dump.returncode == 0 and len(dump.stdout) > 1000, dump.stderr.decode()
                r = Container((d, port), db=way)
                r.env = dict(old13.container.env, POSTGRES_DB=way)
                r.start()
                fresh = fresh or checks.snapshot(r)["catalog"]
                restore = subprocess.run([cluster_sh("bin", "pg_restore"), "-h", f"{d}/sock", "-p", str(port),
                                          "-U", "postgres", "-d", way, "--clean", "--if-exists",
                                          "--exit-on-error"], input=dump.stdout, capture_output=True,
                                         env=cluster_env())
                assert restore.returncode == 0, f"pg_restore of {way}: {restore.stderr.decode()}"
                r.start()
                databases[way] = r
            yield fresh, databases
        finally:
            stop_cluster(d)

    @pytest.fixture(scope="module")
    def upgraded(old13):
        """The 13 cluster pg_upgraded into a new 17 cluster, running."""
        d = os.path.join(old13.dir, "upgraded")
        port = free_port()
        try:
            cluster_sh("create", d, str(port))
            cluster_sh("stop", d)
            work = pg_user_dir(os.path.join(old13.dir, "work"))
            new_bindir = f"/usr/lib/postgresql/{MAJOR}/bin"
            pair = ((old13.cluster.dir, old13.cluster.port), (d, port))
            rc, out = run_pg_upgrade(work, *pair, old13.cluster.bindir, new_bindir, "--check")
            assert rc == 0, f"pg_upgrade --check failed:\n{out}"
            rc, out = run_pg_upgrade(work, *pair, old13.cluster.bindir, new_bindir)
            assert rc == 0, f"pg_upgrade failed:\n{out}"
            cluster_sh("start", d)
            u = Container((d, port), db=DB)
            u.env = dict(old13.container.env)
            yield u
        finally:
            stop_cluster(d)

    WAYS = ["dump17", "dump13", "pg_upgrade"]

    def database(request, way):
        if way == "pg_upgrade":
            return request.getfixturevalue("upgraded")
        return request.getfixturevalue("restored")[1][way]

    def catalog_without_routes(text):
        return "\n".join(line for line in text.splitlines() if not line.startswith("route "))

    @pytest.mark.parametrize("way", WAYS)
    def test_13_to_17_keeps_settings_keys_routes_users_items_and_is_a_fresh_17_install(request, old13, way):
        c = database(request, way)
        fresh = request.getfixturevalue("restored")[0]
        assert c.sql("SHOW server_version_num")[:2] == MAJOR
        checks.check_kept(old13.populated, c, ("extversion", "settings", "keys", "routes", "users", "items"))
        after = catalog_without_routes(checks.snapshot(c)["catalog"])
        assert after == catalog_without_routes(fresh), checks.diff(catalog_without_routes(fresh), after)

    @pytest.mark.parametrize("way", WAYS)
    def test_13_to_17_keeps_passwords_tokens_and_refresh_tokens(request, old13, way):
        checks.check_logins_tokens_refresh(old13.populated, database(request, way))

    @pytest.mark.parametrize("way", WAYS)
    def test_after_13_to_17_a_gateway_serves_the_database(request, old13, way):
        checks.check_gateway(old13.populated, database(request, way))

    @pytest.mark.parametrize("way", WAYS)
    def test_after_13_to_17_alter_extension_update_and_the_next_start_change_nothing(request, old13, way):
        c = database(request, way)
        before = checks.snapshot(c)["catalog"]
        checks.check_update_and_next_start_change_nothing(old13.populated, c,
                                                          ("extversion", "settings", "keys", "routes", "users"))
        assert checks.snapshot(c)["catalog"] == before
