"""Shared fixtures for the end-to-end, security, fault and docker suites.

scripts/test.sh starts a throwaway cluster and gateway and exports where
they are (PGAPP_* variables); these fixtures only use what it exported.
"""
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

# The tests stop `make run` and the db entrypoint with SIGINT, as a
# terminal's Ctrl-C and Docker's stop signal do, and both reach their
# script with SIGINT at its default.  A test run started in the background
# by a non-interactive shell (`make test &` in a script) inherits SIGINT
# (and SIGQUIT) ignored; an ignored signal stays ignored across exec, and
# bash cannot trap a signal that was ignored when it started.  make run then
# exits 0 on Ctrl-C and the entrypoint never passes its stop on (the test
# times out after 60 s).  So what the tests start gets the default.
for _sig, _handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGQUIT, signal.SIG_DFL)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)

API = "/api/v1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The variables of SPEC §4 (and the template's PROJECT_NAME): a test that
# builds an environment from scratch drops these from its own.
SPEC_VARIABLES = ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "DATABASE_URL",
                  "GATEWAY_DB_USER", "GATEWAY_DB_PASSWORD", "SECRET_KEY", "ALGORITHM",
                  "ACCESS_TOKEN_EXPIRE_MINUTES", "FIRST_SUPERUSER", "FIRST_SUPERUSER_PASSWORD",
                  "ENVIRONMENT", "PORT", "GATEWAY_WORKERS", "BCRYPT_COST", "MAX_BODY_BYTES",
                  "BACKEND_CORS_ORIGINS", "TRUSTED_PROXIES", "FRONTEND_HOST", "PROJECT_NAME"]
# What the gateway reads (README, Configuration): Compose and make run pass each.
TUNING_VARIABLES = {"GATEWAY_LISTEN", "GATEWAY_POOL_WAIT_MS", "GATEWAY_MAX_CONNS",
                    "GATEWAY_MAX_CONNS_PER_IP", "GATEWAY_CONN_TIMEOUT", "GATEWAY_REQUEST_DEADLINE",
                    "GATEWAY_DRAIN_SECONDS", "GATEWAY_LOG_FLUSH_MS"}
APP_VARIABLES = {"DATABASE_URL", "PORT", "GATEWAY_WORKERS", "MAX_BODY_BYTES",
                 "BACKEND_CORS_ORIGINS", "TRUSTED_PROXIES", "ENVIRONMENT"} | TUNING_VARIABLES


def compose_bin():
    """docker-compose (Debian's v1) or docker compose: `config` needs no
    Docker engine."""
    for cmd in (["docker-compose"], ["docker", "compose"]):
        if shutil.which(cmd[0]) and subprocess.run(cmd + ["version"], capture_output=True).returncode == 0:
            return cmd
    pytest.fail("neither docker-compose nor docker compose is installed (scripts/deps.sh installs it)")


def env(name):
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError(f"{name} is not set: run the suites through `make test`")
    return value


def psql(query, db=None, user="postgres", check=True, variables=None):
    """Run SQL through psql as the cluster's superuser (or `user`) and
    return stdout.  Values that are data go in `variables` (psql :'name'
    interpolation), never into the query text."""
    cmd = [env("PGAPP_PSQL"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
           "-U", user, "-d", db or os.environ.get("PGDATABASE", "pgapp")]
    for k, v in (variables or {}).items():
        cmd += ["-v", f"{k}={v}"]
    proc = subprocess.run(cmd, input=query, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip() if check else proc


def free_port():
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_env():
    """The environment for scripts/cluster.sh: this run's major and stage."""
    e = dict(os.environ)
    e["PG"] = os.environ.get("PGAPP_PG_MAJOR", os.environ.get("PG", "15"))
    if os.environ.get("PGAPP_STAGE_DIR"):
        e["PGAPP_STAGE"] = os.environ["PGAPP_STAGE_DIR"]
    return e


def cluster_sh(*args):
    proc = subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), *args],
                          env=cluster_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def dotenv(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k] = v
    return out


@contextlib.contextmanager
def scratch_dir(prefix):
    """A directory in the run's work directory (inside the chroot for
    PostgreSQL 13/17), readable by the cluster's user; whatever runs from
    it is stopped and it is removed afterwards."""
    workdir = cluster_sh("workdir")
    os.makedirs(workdir, exist_ok=True)
    d = tempfile.mkdtemp(prefix=prefix + ".", dir=workdir)
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "pgchroot.sh"), "sweep", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def scratch_cluster(prefix, running=True):
    """A new cluster of this run's major: (directory, port)."""
    with scratch_dir(prefix) as d:
        port = free_port()
        try:
            cluster_sh("create", d, str(port))
            if not running:
                cluster_sh("stop", d)
            yield d, port
        finally:
            subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "stop", d, "immediate"],
                           env=cluster_env(), capture_output=True)


@pytest.fixture(scope="module")
def fresh_cluster():
    """A new running cluster, (directory, port), per module."""
    with scratch_cluster("docker") as c:
        yield c


def cluster(action, mode="fast"):
    """Stop or start the test cluster (the gateway keeps running)."""
    args = [os.path.join(ROOT, "scripts", "cluster.sh"), action, env("PGAPP_CLUSTER_DIR")]
    if action == "stop":
        args.append(mode)
    subprocess.run(args, check=True, env={**os.environ, "PGAPP_STAGE": env("PGAPP_STAGE_DIR")})


@pytest.fixture(scope="session")
def base_url():
    return env("PGAPP_BASE_URL")


@pytest.fixture(scope="session")
def gateway_log():
    return env("PGAPP_GATEWAY_LOG")


@pytest.fixture(scope="session")
def dba_sql():
    return psql


@pytest.fixture(scope="session")
def api(base_url):
    """A requests session whose paths are relative to /api/v1."""
    class Api(requests.Session):
        def request(self, method, url, *args, **kwargs):
            kwargs.setdefault("timeout", 30)
            return super().request(method, base_url + API + url, *args, **kwargs)
    with Api() as s:
        yield s


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def jwt_part(token, index):
    """The decoded JSON of a JWT's header (0) or payload (1), unverified."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def login(api, email, password):
    r = api.post("/login/access-token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="session")
def superuser_token(api):
    return login(api, env("FIRST_SUPERUSER"), env("FIRST_SUPERUSER_PASSWORD"))["access_token"]


@pytest.fixture
def new_user(api, superuser_token):
    """A fresh active user: dict(email, password, id, token)."""
    email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    password = "pw-" + uuid.uuid4().hex
    r = api.post("/users/", json={"email": email, "password": password},
                 headers=bearer(superuser_token))
    assert r.status_code == 200, r.text
    tokens = login(api, email, password)
    return {"email": email, "password": password, "id": r.json()["id"],
            "token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}


def http_status(url, timeout=2.0):
    """The status of a GET of url, or None when nothing answers."""
    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return None


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
