"""The compose files, validated by docker-compose itself (`config` needs no
Docker engine) and checked against SPEC §2/§4: the app never sees
SECRET_KEY, the data lives in the named volume, the app waits for a
healthy db, production has no source mounts and restarts by itself."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import APP_VARIABLES, ROOT, SPEC_VARIABLES, TUNING_VARIABLES, compose_bin, dotenv


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The compose files with .env.example as the project's .env."""
    d = tmp_path_factory.mktemp("compose")
    for name in ("docker-compose.yml", "docker-compose.prod.yml"):
        shutil.copy(os.path.join(ROOT, name), d / name)
    shutil.copy(os.path.join(ROOT, ".env.example"), d / ".env")
    return d


# Compose reads these from the environment before .env: keep the test
# run's own (scripts/test.sh exports some) out of the interpolation.
COMPOSE_VARIABLES = set(SPEC_VARIABLES) | APP_VARIABLES | {"PG_MAJOR", "PGAPP_VERSION"}


def config(project, *files, env=None):
    args = compose_bin()
    for f in files:
        args += ["-f", f]
    base = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    proc = subprocess.run(args + ["config"], cwd=project, capture_output=True, text=True,
                          env={**base, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def source(name):
    with open(os.path.join(ROOT, name)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("files", [("docker-compose.yml",), ("docker-compose.prod.yml",),
                                   ("docker-compose.yml", "docker-compose.prod.yml")])
def test_compose_files_are_valid(project, files):
    cfg = config(project, *files)
    assert set(cfg["services"]) == {"db", "app"}


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.prod.yml"])
def test_no_version_key(name):
    assert "version" not in source(name)


def test_development_services(project):
    cfg = config(project, "docker-compose.yml")
    db, app = cfg["services"]["db"], cfg["services"]["app"]
    assert "postgres_data:/var/lib/postgresql/data" in " ".join(map(str, db["volumes"]))
    assert "postgres_data" in cfg["volumes"]
    assert db["healthcheck"]["test"]
    assert app["healthcheck"]["test"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(str(p.get("target") if isinstance(p, dict) else p).endswith("8000") for p in app["ports"])
    # the db takes .env whole (SECRET_KEY included); the app only its own variables
    assert db["environment"]["SECRET_KEY"]
    assert set(app["environment"]) == APP_VARIABLES
    assert "SECRET_KEY" not in source("docker-compose.yml")["services"]["app"].get("environment", {})
    assert "env_file" not in source("docker-compose.yml")["services"]["app"]
    url = app["environment"]["DATABASE_URL"]
    assert url == "postgresql://pgapp_gateway_login:change-me-gateway-password@db:5432/pgapp"
    # the development loop: sources mounted, dev stages
    assert db["build"]["target"] == "dev" and app["build"]["target"] == "dev"


def test_tuning_reaches_the_app_empty_by_default(project):
    app = config(project, "docker-compose.yml")["services"]["app"]["environment"]
    for var in TUNING_VARIABLES:
        assert app[var] in ("", None), var     # the gateway's own default
    app = config(project, "docker-compose.yml", "docker-compose.prod.yml",
                 env={"GATEWAY_LOG_FLUSH_MS": "250", "GATEWAY_LISTEN": "::"})["services"]["app"]["environment"]
    assert app["GATEWAY_LOG_FLUSH_MS"] == "250" and app["GATEWAY_LISTEN"] == "::"


DB_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "GATEWAY_DB_USER",
                "GATEWAY_DB_PASSWORD", "SECRET_KEY", "ALGORITHM", "ACCESS_TOKEN_EXPIRE_MINUTES",
                "BCRYPT_COST", "FIRST_SUPERUSER", "FIRST_SUPERUSER_PASSWORD", "FRONTEND_HOST",
                "PROJECT_NAME", "ENVIRONMENT", "EMAIL_RESET_TOKEN_EXPIRE_HOURS"}


def test_db_gets_the_env_file_values(project):
    db = config(project, "docker-compose.yml")["services"]["db"]["environment"]
    env = dotenv(os.path.join(ROOT, ".env.example"))
    for var in DB_VARIABLES:
        assert db[var] == env[var], var


@pytest.mark.parametrize("files", [("docker-compose.yml",), ("docker-compose.yml", "docker-compose.prod.yml")])
def test_environment_overrides_env_file(project, files):
    """Both services: a password changed in the shell only for the app
    would leave the gateway unable to log in.  ENVIRONMENT too, except
    under the production override, which always says production."""
    shell = {var: "from-the-shell-" + var.lower() for var in DB_VARIABLES}
    shell["ENVIRONMENT"] = "staging"
    cfg = config(project, *files, env=shell)
    db, app = cfg["services"]["db"]["environment"], cfg["services"]["app"]["environment"]
    for var in DB_VARIABLES - {"ENVIRONMENT"}:
        assert db[var] == shell[var], var
    assert ":from-the-shell-gateway_db_password@" in app["DATABASE_URL"]
    expected = "production" if "docker-compose.prod.yml" in files else "staging"
    assert app["ENVIRONMENT"] == db["ENVIRONMENT"] == expected


@pytest.mark.parametrize("case", ["env-file-says-local", "shell-says-local", "unset"])
def test_production_override_always_runs_as_production(project, case):
    """After the documented `cp .env.example .env` (ENVIRONMENT=local), or
    with ENVIRONMENT=local in the shell, or with none, both services run as
    production under the override, so the development key is refused; the
    development file alone stays local."""
    env = {"ENVIRONMENT": "local"} if case == "shell-says-local" else {}
    if case == "unset":
        with open(project / ".env") as f:
            lines = [line for line in f if not line.startswith("ENVIRONMENT=")]
        (project / ".env").write_text("".join(lines))
    else:
        assert dotenv(project / ".env")["ENVIRONMENT"] == "local"
    try:
        cfg = config(project, "docker-compose.yml", "docker-compose.prod.yml", env=env)
        assert {name: svc["environment"]["ENVIRONMENT"] for name, svc in cfg["services"].items()} == \
            {"db": "production", "app": "production"}
        cfg = config(project, "docker-compose.yml", env=env)
        assert {name: svc["environment"]["ENVIRONMENT"] for name, svc in cfg["services"].items()} == \
            {"db": "local", "app": "local"}
    finally:
        shutil.copy(os.path.join(ROOT, ".env.example"), project / ".env")


def seconds(duration):
    """A Compose duration such as 30s, 1m30s or 1m."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    for part in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration):
        number, unit = part
        total += float(number) * units[unit]
    assert number, duration
    return total


def gateway_default(name):
    """The gateway's default for NAME, as gateway/src/config.c parses it."""
    with open(os.path.join(ROOT, "gateway", "src", "config.c")) as f:
        m = re.search(r'parse_int\(get, "%s", (\d+),' % name, f.read())
    assert m, name
    return int(m.group(1))


@pytest.mark.parametrize("files", [("docker-compose.yml",), ("docker-compose.yml", "docker-compose.prod.yml")])
def test_app_has_time_to_drain_before_sigkill(project, files):
    """`docker compose stop` sends SIGTERM, then SIGKILL after
    stop_grace_period (default 10 s): it must leave the gateway its whole
    drain (GATEWAY_DRAIN_SECONDS, default 10) and time to stop after it."""
    app = config(project, *files)["services"]["app"]
    drain = gateway_default("GATEWAY_DRAIN_SECONDS")
    assert drain == 10
    assert "stop_grace_period" in app, app
    assert seconds(app["stop_grace_period"]) >= drain + 15, app["stop_grace_period"]


@pytest.mark.parametrize("files", [("docker-compose.yml",), ("docker-compose.yml", "docker-compose.prod.yml")])
def test_db_has_time_for_its_shutdown_checkpoint_before_sigkill(project, files):
    """The db image stops PostgreSQL with SIGINT (the official image's
    STOPSIGNAL, passed on by the entrypoint): a fast shutdown, which ends
    with a checkpoint of every dirty buffer.  Docker's default 10 s before
    SIGKILL can cut it, and the next start then runs crash recovery.  The
    production override defines db too: the merged file must keep the
    grace."""
    db = config(project, *files)["services"]["db"]
    assert "stop_grace_period" in db, db
    assert seconds(db["stop_grace_period"]) >= 120, db["stop_grace_period"]


def test_production_override(project):
    cfg = config(project, "docker-compose.yml", "docker-compose.prod.yml")
    for name, svc in cfg["services"].items():
        assert svc["restart"] == "unless-stopped", name
        assert svc["build"]["target"] == "runtime", name
        limits = svc["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), name
        for v in svc.get("volumes", []):
            # long syntax after the merge; no host directory is mounted
            text = v if isinstance(v, str) else v.get("type", "") + ":" + str(v.get("source", ""))
            assert not (isinstance(v, dict) and v.get("type") == "bind"), (name, v)
            assert not (isinstance(v, str) and v.split(":")[0].startswith(("/", "."))), (name, v)
            assert "SECRET_KEY" not in text
    app = cfg["services"]["app"]
    assert app["environment"]["GATEWAY_WORKERS"]
    assert set(app["environment"]) == APP_VARIABLES
