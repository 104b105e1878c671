"""scripts/deps.sh (SPEC §3): as any user but root it installs nothing and
prints the one apt-get line that is needed, or nothing when every package
is there.  Which packages are installed comes from dpkg-query, replaced
here by a stub that reports two of them missing, so the test does not
depend on what this machine lacks."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT

STUB = """#!/bin/sh
# dpkg-query -W -f='${Status}' PACKAGE: installed unless listed as missing
for package; do :; done
for p in $MISSING; do
	[ "$p" = "$package" ] && exit 1
done
printf 'install ok installed'
"""


@pytest.fixture
def deps():
    """deps.sh and the stub in a directory any user can read (under /tmp,
    not in the checkout, which nobody may not reach), run as an
    unprivileged user (nobody when the tests run as root)."""
    with tempfile.TemporaryDirectory(prefix="pgapp-deps.") as d:
        os.chmod(d, 0o755)
        shutil.copy(os.path.join(ROOT, "scripts", "deps.sh"), os.path.join(d, "deps.sh"))
        with open(os.path.join(d, "dpkg-query"), "w") as f:
            f.write(STUB)
        for name in ("deps.sh", "dpkg-query"):
            os.chmod(os.path.join(d, name), 0o755)

        def run(missing):
            env = {"PATH": d + ":/usr/bin:/bin", "MISSING": " ".join(missing)}
            cmd = [os.path.join(d, "deps.sh")]
            if os.geteuid() == 0:
                runuser = shutil.which("runuser") or "/usr/sbin/runuser"
                cmd = [runuser, "-u", "nobody", "--", "env"] + ["%s=%s" % kv for kv in env.items()] + cmd
            return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        yield run


def test_nothing_missing_prints_nothing(deps):
    p = deps([])
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p


def test_not_root_prints_the_one_apt_get_line(deps):
    p = deps(["wrk", "libmicrohttpd-dev"])
    assert p.returncode == 1, p
    lines = p.stderr.splitlines()
    assert lines[0] == "pgapp needs these packages; run as root:"
    assert lines[1].strip() == "apt-get install -y libmicrohttpd-dev wrk"
    assert len(lines) == 2 and p.stdout == ""
