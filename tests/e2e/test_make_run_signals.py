"""How `make run` ends (scripts/lib.sh on_stop / wait_service, which
scripts/run.sh uses), with a stand-in gateway and a stand-in cluster stop,
so that each order in which a Ctrl-C can reach the shell and the gateway
is played out on purpose instead of by the scheduler.

A terminal's Ctrl-C is SIGINT to the whole process group: the gateway
stops on it and exits 0, and bash runs its INT trap only between two
commands.  Once, under load, make run saw the gateway's 0 and was on its
way out before its own trap ran, and exited 0 instead of 130."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import ROOT, wait_for

# The stand-in gateway: like pgapp-gateway it overrides the SIGINT that a
# background command of a script starts with ignored, and exits 0 on
# SIGINT or SIGTERM (at once: nothing to drain), or with EXIT after SECONDS.
FAKE_GATEWAY = textwrap.dedent("""\
    import os, signal, sys, time
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(sys.argv[1], "w") as f:
        f.write(str(os.getpid()))
    if len(sys.argv) > 2:
        time.sleep(float(sys.argv[3]))
        sys.exit(int(sys.argv[2]))
    while True:
        signal.pause()
    """)

# The stand-in for run.sh: on_stop with a clean-up that takes a while, as
# stopping the cluster does, and logs its start and end.
DRIVER = textwrap.dedent("""\
    set -euo pipefail
    . "$PGAPP_ROOT/scripts/lib.sh"
    stop_cluster() {
    	echo "cleanup start" >>"$LOG"
    	sleep 0.5
    	echo "cleanup end" >>"$LOG"
    }
    on_stop stop_cluster
    "$PYTHON" "$FAKE" "$READY" "$@" &
    service_pid=$!
    wait_service
    """)


class Driver:
    def __init__(self, tmp_path, *gateway_args):
        (tmp_path / "fake.py").write_text(FAKE_GATEWAY)
        (tmp_path / "driver.sh").write_text(DRIVER)
        self.log = tmp_path / "log"
        self.ready = tmp_path / "ready"
        for p in (self.log, self.ready):
            if p.exists():
                p.unlink()
        env = dict(os.environ, PGAPP_ROOT=ROOT, LOG=str(self.log), READY=str(self.ready),
                   FAKE=str(tmp_path / "fake.py"), PYTHON=sys.executable)
        # its own process group, as a terminal runs it
        self.proc = subprocess.Popen(["bash", str(tmp_path / "driver.sh")] + list(gateway_args),
                                     env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        assert wait_for(lambda: self.ready.exists() and self.ready.read_text(), timeout=30)
        self.gateway = int(self.ready.read_text())

    def logged(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def wait(self):
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def gateway_gone(self):
        try:
            os.kill(self.gateway, 0)
        except ProcessLookupError:
            return True
        return False

    def check_stopped(self):
        assert self.logged() == ["cleanup start", "cleanup end"]
        assert self.gateway_gone()


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_signal_to_the_group_ends_with_128_plus_it(tmp_path, sig, status):
    """Ctrl-C as a terminal sends it (and SIGTERM the same way), a few
    times: whoever sees it first, the status is the signal's.  The
    stand-in exits at once, so the shell often reaps it before its trap
    runs; the old clean-up's `kill` then failed under `set -e`, which ended
    the script with 1 and left the cluster running."""
    for _ in range(5):
        d = Driver(tmp_path)
        os.killpg(d.proc.pid, sig)
        assert d.wait() == status
        d.check_stopped()


def test_ctrl_c_that_the_gateway_saw_first_still_ends_with_130(tmp_path):
    """The race: the gateway stops on the Ctrl-C and exits 0, the shell
    reaps it and is already stopping the cluster when its own SIGINT is
    handled.  The old EXIT trap had cleared the INT trap by then: bash,
    waiting for a command that then exited 0, carried on, and the status
    was the gateway's 0."""
    d = Driver(tmp_path)
    os.kill(d.gateway, signal.SIGINT)
    assert wait_for(lambda: "cleanup start" in d.logged(), timeout=30)
    os.kill(d.proc.pid, signal.SIGINT)
    assert d.wait() == 130
    d.check_stopped()


@pytest.mark.parametrize("status", [0, 3])
def test_a_gateway_that_stops_on_its_own_keeps_its_status(tmp_path, status):
    d = Driver(tmp_path, str(status), "0.2")
    assert d.wait() == status
    d.check_stopped()


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short(tmp_path):
    """It stops the step it reaches (here the stand-in's sleep, in make run
    the cluster's stop), but the shell goes on with the rest of the
    clean-up and ends with 130; it used to die of the SIGINT there."""
    d = Driver(tmp_path)
    os.killpg(d.proc.pid, signal.SIGINT)
    assert wait_for(lambda: "cleanup start" in d.logged(), timeout=30)
    time.sleep(0.1)
    os.killpg(d.proc.pid, signal.SIGINT)
    assert d.wait() == 130
    d.check_stopped()


def test_what_the_tests_start_gets_sigint_at_its_default():
    """conftest.py undoes a SIGINT (and SIGQUIT) ignored by whoever started
    the test run in the background: the tests that press Ctrl-C (here and
    in test_make_run.py, test_entrypoint.py) need a script that can trap it."""
    status = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    for sig in (signal.SIGINT, signal.SIGQUIT):
        assert not ignored & (1 << (sig - 1)), "%s ignored in what the tests start" % sig.name


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
