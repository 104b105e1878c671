"""`make run` (scripts/run.sh), the README's first command, end to end:
it builds, creates a cluster, applies the environment, serves the API;
`make psql` reaches the cluster; Ctrl-C stops the gateway and the cluster;
the next start keeps the data.  PGAPP_RUN_DIR puts this test's cluster in
the run's work directory, never in a developer's `.pgapp/run`."""
import os
import re
import signal
import subprocess

import pytest
import requests

from conftest import (API, APP_VARIABLES, ROOT, SPEC_VARIABLES, TUNING_VARIABLES, cluster_env, dotenv,
                      free_port, http_status, scratch_dir, wait_for)

RUN = os.path.join(ROOT, "scripts", "run.sh")


@pytest.fixture(scope="module")
def run_env():
    with scratch_dir("makerun") as parent:
        # nothing of the test run's own environment: make run reads .env, or
        # .env.example (a fresh clone), as the README's quick start says
        env = {k: v for k, v in cluster_env().items() if k not in SPEC_VARIABLES and not k.startswith("PG")}
        env.update(PG=cluster_env()["PG"], PGAPP_RUN_DIR=os.path.join(parent, "run"),
                   PORT=str(free_port()), PGAPP_DB_PORT=str(free_port()))
        if "PGAPP_STAGE_DIR" in os.environ:
            env["PGAPP_STAGE_DIR"] = os.environ["PGAPP_STAGE_DIR"]
        try:
            yield env
        finally:
            subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "stop", env["PGAPP_RUN_DIR"],
                            "immediate"], env=cluster_env(), capture_output=True)


class Run:
    """scripts/run.sh in its own process group, as a terminal runs it."""

    def __init__(self, env, log_path):
        self.env = env
        self.url = "http://127.0.0.1:%s" % env["PORT"]
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen([RUN], env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def logged(self):
        with open(self.log_path) as f:
            return f.read()

    def ready(self):
        return http_status(self.url + "/ready") == 200

    def ctrl_c(self):
        """SIGINT to the whole foreground group, as a terminal's Ctrl-C."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def login(url):
    """The first superuser of the file make run read."""
    local = os.path.join(ROOT, ".env")
    settings = dotenv(local if os.path.exists(local) else os.path.join(ROOT, ".env.example"))
    r = requests.post(url + API + "/login/access-token", timeout=30,
                      data={"username": settings["FIRST_SUPERUSER"],
                            "password": settings["FIRST_SUPERUSER_PASSWORD"]})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def psql(env, sql):
    return subprocess.run([RUN, "psql", "-X", "-At", "-c", sql], env=env, cwd=ROOT,
                          capture_output=True, text=True)


def test_make_run_serves_keeps_its_data_and_stops_on_ctrl_c(run_env, tmp_path):
    first = Run(run_env, tmp_path / "run1.log")
    try:
        assert wait_for(first.ready, timeout=180), first.logged()
        headers = login(first.url)
        # the OpenAPI link it prints works (it once printed a path that 404s)
        links = re.findall(r"OpenAPI: (http://localhost:\d+/\S+)", first.logged())
        assert links, first.logged()
        r = requests.get(links[0].replace("localhost", "127.0.0.1", 1), timeout=10)
        assert r.status_code == 200 and r.json()["openapi"].startswith("3."), r.text
        r = requests.post(first.url + API + "/items/", json={"title": "made by make run"},
                          headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        item = r.json()["id"]

        # run.env: the DBA's URI and the port, readable by its owner only
        run_file = run_env["PGAPP_RUN_DIR"] + ".env"
        assert oct(os.stat(run_file).st_mode & 0o777) == "0o600"
        with open(run_file) as f:
            lines = dict(line.rstrip("\n").split("=", 1) for line in f)
        assert lines["PORT"] == run_env["PORT"] and lines["DATABASE_URL"].startswith("postgresql://")
        # and it printed that URI (SPEC §3)
        assert "cluster URI (DBA): " + lines["DATABASE_URL"] in first.logged()

        # make psql: the DBA sees the item and the environment applied
        p = psql(run_env, "SELECT title FROM pgapp.items WHERE id = '%s'" % item)
        assert p.returncode == 0 and p.stdout.strip() == "made by make run", p.stderr

        # a second make run on the same cluster is refused, and changes nothing
        second = subprocess.run([RUN], env=dict(run_env, PORT=str(free_port())), cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        assert "is already running (another make run?)" in second.stderr
        assert first.ready()
    finally:
        rc = first.ctrl_c()
    assert rc == 130, first.logged()
    assert "stopping the cluster" in first.logged()
    assert not os.path.exists(run_env["PGAPP_RUN_DIR"] + ".env")
    assert not os.path.exists(os.path.join(run_env["PGAPP_RUN_DIR"], "data", "postmaster.pid"))
    assert not first.ready()

    # make psql with nothing running: one clear line
    p = psql(run_env, "SELECT 1")
    assert p.returncode != 0 and "no cluster is running" in p.stderr

    again = Run(run_env, tmp_path / "run2.log")
    try:
        assert wait_for(again.ready, timeout=180), again.logged()
        r = requests.get(again.url + API + "/items/" + item, headers=login(again.url), timeout=10)
        assert r.status_code == 200 and r.json()["title"] == "made by make run"
    finally:
        assert again.ctrl_c() == 130, again.logged()


def gateway_environ(run):
    """The environment of the gateway that run.sh started (same session)."""
    p = subprocess.run(["pgrep", "-s", str(run.proc.pid), "-x", "pgapp-gateway"],
                       capture_output=True, text=True)
    pids = p.stdout.split()
    assert len(pids) == 1, (p.stdout, run.logged())
    with open("/proc/%s/environ" % pids[0], "rb") as f:
        pairs = [kv.decode().split("=", 1) for kv in f.read().split(b"\0") if kv]
    return dict(pairs)


def test_make_run_passes_every_gateway_variable(run_env, tmp_path):
    """Each of the README's gateway variables reaches the gateway (a value
    set in the environment overrides .env), and nothing else of the
    environment does: never SECRET_KEY."""
    tuned = {"GATEWAY_POOL_WAIT_MS": "1500", "GATEWAY_MAX_CONNS": "900",
             "GATEWAY_MAX_CONNS_PER_IP": "90", "GATEWAY_CONN_TIMEOUT": "25",
             "GATEWAY_REQUEST_DEADLINE": "70", "GATEWAY_DRAIN_SECONDS": "7",
             "GATEWAY_LOG_FLUSH_MS": "50", "GATEWAY_LISTEN": "127.0.0.1", "GATEWAY_WORKERS": "3",
             "MAX_BODY_BYTES": "500000", "BACKEND_CORS_ORIGINS": "http://localhost:5173",
             "TRUSTED_PROXIES": "10.0.0.0/8"}
    assert set(tuned) | {"DATABASE_URL", "PORT", "ENVIRONMENT"} == APP_VARIABLES
    run = Run(dict(run_env, SECRET_KEY="x" * 40, **tuned), tmp_path / "tuned.log")
    try:
        assert wait_for(run.ready, timeout=180), run.logged()
        seen = gateway_environ(run)
        assert {k: seen.get(k) for k in tuned} == tuned
        assert set(seen) - {"PATH", "LANG"} == APP_VARIABLES
    finally:
        assert run.ctrl_c() == 130, run.logged()


@pytest.mark.parametrize("name", sorted(TUNING_VARIABLES - {"GATEWAY_LISTEN"}))
def test_make_run_refuses_a_bad_gateway_value(run_env, tmp_path, name):
    """A bad value stops make run with the gateway's one clear line."""
    run = Run(dict(run_env, **{name: "soon"}), tmp_path / "bad.log")
    try:
        rc = run.proc.wait(timeout=60)
    finally:
        if run.proc.poll() is None:
            run.ctrl_c()
    assert rc != 0 and '%s: not an integer: "soon"' % name in run.logged(), run.logged()



def refused(env, **settings):
    """run.sh that must stop before anything starts: its stderr lines other
    than the informational "== ..." ones.  One that starts serving instead
    is stopped, with its whole process group, and the test fails."""
    proc = subprocess.Popen([RUN], env=dict(env, **settings), cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)     # Ctrl-C: stops the gateway and the cluster
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        pytest.fail("make run did not stop: " + err)
    assert proc.returncode != 0, err
    assert "== build" not in err, err
    return [line for line in err.splitlines() if not line.startswith("== ")]


def test_make_run_never_empties_a_directory_it_did_not_make(run_env, tmp_path):
    """PGAPP_RUN_DIR on a folder of someone else's files: make run used to
    `rm -rf` any directory without a cluster in it."""
    # under the cluster work directory, but not a cluster directory of make run
    parent = os.path.dirname(run_env["PGAPP_RUN_DIR"])
    victim = os.path.join(parent, "victim")
    os.makedirs(victim)
    with open(os.path.join(victim, "important.txt"), "w") as f:
        f.write("x\n")
    assert refused(run_env, PGAPP_RUN_DIR=victim) == [
        "run.sh: %s is not empty and holds no cluster of make run: "
        "move it away or choose another PGAPP_RUN_DIR" % os.path.realpath(victim)]
    assert os.listdir(victim) == ["important.txt"]

    # outside the cluster work directory: refused even when empty
    outside = tmp_path / "victim"
    outside.mkdir()
    (outside / "important.txt").write_text("x\n")
    workdir = os.path.realpath(os.path.dirname(parent))
    for path in (outside, tmp_path / "absent", os.path.join(parent, "..", "..", "escape"), workdir):
        lines = refused(run_env, PGAPP_RUN_DIR=str(path))
        assert lines == ["run.sh: PGAPP_RUN_DIR must be a directory under %s, not %s"
                         % (workdir, os.path.realpath(path))], lines
    assert (outside / "important.txt").read_text() == "x\n"
    assert not os.path.exists(tmp_path / "absent")


def test_make_run_replaces_what_an_interrupted_first_start_left(run_env, tmp_path):
    """A directory make run marked but whose cluster never finished is
    started afresh; an empty directory is taken as is."""
    parent = os.path.dirname(run_env["PGAPP_RUN_DIR"])
    for name, marked in (("interrupted", True), ("empty", False)):
        d = os.path.join(parent, name)
        os.makedirs(d)
        if marked:
            os.makedirs(os.path.join(d, "data"))
            open(os.path.join(d, ".pgapp-run-dir"), "w").close()
            open(os.path.join(d, "data", "half-made"), "w").close()
        run = Run(dict(run_env, PGAPP_RUN_DIR=d), tmp_path / (name + ".log"))
        try:
            assert wait_for(run.ready, timeout=180), run.logged()
            assert os.path.exists(os.path.join(d, "data", "PG_VERSION"))
            assert not os.path.exists(os.path.join(d, "data", "half-made"))
            assert os.path.exists(os.path.join(d, ".pgapp-run-dir"))
        finally:
            rc = run.ctrl_c()
            subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "stop", d, "immediate"],
                           env=cluster_env(), capture_output=True)
        assert rc == 130, run.logged()


@pytest.mark.parametrize("name", ["PORT", "PGAPP_DB_PORT"])
@pytest.mark.parametrize("value", ["abc", "99999", "0", "1/2", "-1", "80.5", "0080", " 80"])
def test_make_run_refuses_a_bad_port_before_anything_starts(run_env, name, value):
    d = os.path.join(os.path.dirname(run_env["PGAPP_RUN_DIR"]), "never")
    assert refused(run_env, PGAPP_RUN_DIR=d, **{name: value}) == [
        'run.sh: %s: not a port number (1..65535): "%s"' % (name, value)]
    assert not os.path.exists(d) and not os.path.exists(d + ".env")
