"""pg_upgrade of a populated pgapp database (README, DBA guide, "Moving to
a newer PostgreSQL major"), within this run's major: a cluster set up as
the db container's entrypoint does, with the previous release of pgapp,
populated and updated to the current release by the next start
(upgrade_checks.populate: users who log in, items, a live session and
refresh token, a built-in route a DBA edited, a route a DBA added with a
handler of its own, changed settings, a rotated signing key), then `pg_upgrade --check` and
`pg_upgrade` into a fresh cluster.  pg_upgrade from a major to the same
major runs the same checks and the same binary-upgrade dump of the
extension as an upgrade across majors (test_major_upgrade.py: 13 -> 17).
On the new cluster everything still works: the old passwords, tokens
issued before the upgrade, refresh, items, both routes, the catalog is the
old one fact by fact, `ALTER EXTENSION pgapp UPDATE` and the set-up at the
next start change nothing, and a gateway serves it."""
import os
import pwd
import subprocess

import pytest

from conftest import ROOT, cluster_env, cluster_sh, free_port, scratch_dir
from test_init_scripts import Container
import upgrade_checks as checks

MAJOR = cluster_env()["PG"]
DB = "pgapp"


def server_bindir():
    """The server's binaries as pg_upgrade (run by pg_user_command) sees
    them: the private stage for PostgreSQL 15, the chroot's own for 13/17."""
    return cluster_sh("bindir") if MAJOR == "15" else f"/usr/lib/postgresql/{MAJOR}/bin"


def pg_user_command(cwd, program, *args, major=MAJOR, env=()):
    """program run as the cluster's OS user in cwd (pg_upgrade writes its
    logs and scripts there): on the host for 15, inside the chroot for
    13/17 (same paths on both sides)."""
    run_in = ["env", *env, "sh", "-c", 'cd "$0" && exec "$@"', cwd, program, *args]
    if major != "15":
        return [os.path.join(ROOT, "scripts", "pgchroot.sh"), "pgexec", major, *run_in]
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *run_in]
    return run_in


def pg_user_dir(path):
    """A directory the cluster's OS user owns."""
    os.makedirs(path)
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(path, pg.pw_uid, pg.pw_gid)
    return path


def problem_lists(*tops):
    """The lists pg_upgrade writes when a check fails (where its message
    says: the working directory, or under the new data directory)."""
    out = ""
    for top in tops:
        for d, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith(".txt") and not f.startswith("pg_upgrade_"):
                    with open(os.path.join(d, f), errors="replace") as fh:
                        out += f"\n--- {f}:\n" + fh.read()
    return out


def run_pg_upgrade(work, old, new, old_bindir, new_bindir, *extra, major=MAJOR):
    """pg_upgrade of (old_dir, old_port) into (new_dir, new_port), run from
    work: (exit status, its output and the lists of problems it found)."""
    (old_dir, old_port), (new_dir, new_port) = old, new
    proc = subprocess.run(pg_user_command(
        work, f"{new_bindir}/pg_upgrade", "-b", old_bindir, "-B", new_bindir,
        "-d", os.path.join(old_dir, "data"), "-D", os.path.join(new_dir, "data"),
        "-p", str(old_port), "-P", str(new_port), "-s", work, *extra, major=major),
        capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr + problem_lists(work, os.path.join(new_dir, "data"))


def stop_cluster(d):
    """Stops the cluster in d if it runs (immediate: a test's clean-up)."""
    subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "stop", d, "immediate"],
                   env=cluster_env(), capture_output=True)


@pytest.fixture(scope="module")
def upgraded():
    """(what populate put in the old cluster, the upgraded cluster running)."""
    with scratch_dir("pgupgrade") as d:
        old = (os.path.join(d, "old"), free_port())
        new = (os.path.join(d, "new"), free_port())
        try:
            cluster_sh("create", old[0], str(old[1]))
            c = Container(old, db=DB)
            p = checks.populate(c)
            cluster_sh("stop", old[0])
            cluster_sh("create", new[0], str(new[1]))
            cluster_sh("stop", new[0])
            work = pg_user_dir(os.path.join(d, "work"))
            bindir = server_bindir()
            rc, out = run_pg_upgrade(work, old, new, bindir, bindir, "--check")
            assert rc == 0, f"pg_upgrade --check failed:\n{out}"
            rc, out = run_pg_upgrade(work, old, new, bindir, bindir)
            assert rc == 0, f"pg_upgrade failed:\n{out}"
            cluster_sh("start", new[0])
            upgraded = Container(new, db=DB)
            upgraded.env = dict(c.env)
            yield p, upgraded
        finally:
            for cluster_dir, _ in (old, new):
                stop_cluster(cluster_dir)


def test_pg_upgrade_keeps_catalog_settings_keys_routes_users_and_items(upgraded):
    checks.check_kept(*upgraded)


def test_pg_upgrade_keeps_passwords_tokens_and_refresh_tokens(upgraded):
    checks.check_logins_tokens_refresh(*upgraded)


def test_after_pg_upgrade_alter_extension_update_and_the_next_start_change_nothing(upgraded):
    checks.check_update_and_next_start_change_nothing(*upgraded)


def test_after_pg_upgrade_a_gateway_serves_the_database(upgraded):
    checks.check_gateway(*upgraded)
