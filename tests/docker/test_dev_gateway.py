"""scripts/dev-gateway.sh, the dev image's command, on the host: a
gateway that refuses its configuration (exit status 2) stops the loop
with that status, where it used to be restarted every two seconds
forever; a gateway that dies otherwise is still started again.  The
sources are a scratch copy of gateway/, as the dev image's /src mount."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import ROOT, free_port, wait_for

DEV_GATEWAY = os.path.join(ROOT, "scripts", "dev-gateway.sh")


@pytest.fixture
def dev_env(tmp_path):
    shutil.copytree(os.path.join(ROOT, "gateway"), tmp_path / "src" / "gateway",
                    ignore=shutil.ignore_patterns("*.o", "pgapp-gateway", "run_tests"))
    # nothing answers on port 1: the gateway runs and waits for its database
    return {"PATH": os.environ["PATH"], "PGAPP_SRC": str(tmp_path / "src"),
            "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/pgapp",
            "PORT": str(free_port()), "GATEWAY_LISTEN": "127.0.0.1", "GATEWAY_WORKERS": "1"}


def test_a_refused_setting_stops_the_loop_with_status_2(dev_env):
    proc = subprocess.Popen([DEV_GATEWAY], env=dict(dev_env, MAX_BODY_BYTES="abc"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=120)   # the build takes seconds
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("dev-gateway.sh still runs after a refused setting:\n" + out)
    assert proc.returncode == 2, out
    assert 'pgapp-gateway: MAX_BODY_BYTES: not an integer: "abc"' in out
    assert "dev-gateway: the gateway refused to start (exit 2" in out
    assert "restarting" not in out
    assert out.count("pgapp-gateway: MAX_BODY_BYTES") == 1


def test_a_gateway_that_dies_is_still_started_again(dev_env, tmp_path):
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([DEV_GATEWAY], env=dev_env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def logged():
        with open(log_path) as f:
            return f.read()
    try:
        assert wait_for(lambda: "gateway running (pid" in logged(), timeout=300), logged()
        pid = int(re.search(r"gateway running \(pid (\d+)\)", logged()).group(1))
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: "gateway exited (137); restarting in 2 s" in logged(), timeout=30), logged()
        # started again: a new gateway process in the loop's session
        assert wait_for(lambda: [p for p in gateways(proc.pid) if p != pid], timeout=30), logged()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, logged()
        assert gateways(proc.pid) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def gateways(session):
    p = subprocess.run(["pgrep", "-s", str(session), "-f", "pgapp-gateway.run"],
                       capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]
