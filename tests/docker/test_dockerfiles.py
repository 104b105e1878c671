"""A small linter for our Dockerfiles (hadolint is not in Debian): the
rules this project holds them to."""
import os
import re

import pytest

from conftest import ROOT



def instructions(name):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    with open(os.path.join(ROOT, name)) as f:
        text = f.read()
    out, cur = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        word, _, rest = cur.partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def stages(name):
    """[(stage name, base, [instructions])]"""
    result = []
    for ins, args in instructions(name):
        if ins == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            assert m, args
            result.append((m.group(2), m.group(1), []))
        elif result:
            result[-1][2].append((ins, args))
    return result


DOCKERFILES = ["Dockerfile.db", "Dockerfile.gateway"]
SECRET_WORDS = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL)", re.I)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_bases_are_pinned(name):
    # FROM sees only the ARGs declared before the first FROM
    args = {}
    for i, a in instructions(name):
        if i == "FROM":
            break
        if i == "ARG":
            args[a.split("=")[0]] = a.split("=", 1)[1] if "=" in a else None
    known = {s for s, _, _ in stages(name) if s}
    for stage, base, _ in stages(name):
        if base in known:
            continue
        image, _, tag = base.partition(":")
        assert tag, f"{name}: FROM {base} has no tag"
        assert "latest" not in tag, f"{name}: FROM {base} floats"
        for var in re.findall(r"\$\{?(\w+)", base):
            assert args.get(var), f"{name}: FROM {base}: ARG {var} needs a default"


def test_db_image_major_defaults_to_13():
    args = [a for i, a in instructions("Dockerfile.db") if i == "ARG"]
    assert "PG_MAJOR=13" in args
    for _, base, _ in stages("Dockerfile.db"):
        assert base.startswith("postgres:${PG_MAJOR}") or base in {s for s, _, _ in stages("Dockerfile.db") if s}


@pytest.mark.parametrize("name", DOCKERFILES)
def test_final_stage_has_healthcheck(name):
    final = stages(name)[-1]
    assert any(i == "HEALTHCHECK" and "NONE" not in a.upper() for i, a in final[2]), name


@pytest.mark.parametrize("name", DOCKERFILES)
def test_no_add_of_urls_and_no_secrets_in_env(name):
    for ins, args in instructions(name):
        if ins == "ADD":
            assert not re.search(r"(https?|ftp|git)://", args), f"{name}: ADD {args}"
        if ins in ("ENV", "ARG"):
            for key in re.findall(r"(\w+)(?:=|\s)", args + " "):
                assert not SECRET_WORDS.search(key), f"{name}: {ins} {args} looks like a secret"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_multi_stage_and_final_stage_without_compiler(name):
    st = stages(name)
    assert len(st) >= 2
    final = st[-1]
    assert final[0] is None or final[0] not in ("builder", "dev")
    runs = " ".join(a for i, a in final[2] if i == "RUN")
    for tool in ("build-essential", "gcc", "make ", "-dev"):
        assert tool not in runs, f"{name}: the runtime stage installs {tool}"
    copies = [a for i, a in final[2] if i == "COPY"]
    assert any("--from=builder" in c for c in copies), f"{name}: nothing copied from the builder"


def test_db_builder_uses_the_one_build_script():
    builder = [s for s in stages("Dockerfile.db") if s[0] == "builder"]
    assert builder, "Dockerfile.db has no builder stage"
    runs = [a for i, a in builder[0][2] if i == "RUN"]
    assert any("scripts/build-extension.sh" in r for r in runs)
    assert any("postgresql-server-dev-${PG_MAJOR}" in r and "build-essential" in r and "libssl-dev" in r
               for r in runs)
    final = stages("Dockerfile.db")[-1]
    # only the built files: pgapp.so, control, sql
    froms = [a for i, a in final[2] if i == "COPY" and "--from=builder" in a]
    assert froms and all("/out/" in a for a in froms)


def test_db_image_applies_env_at_every_start():
    final = stages("Dockerfile.db")[-1]
    entry = [a for i, a in final[2] if i == "ENTRYPOINT"]
    assert entry and "pgapp-entrypoint" in entry[-1]
    copies = " ".join(a for i, a in final[2] if i == "COPY")
    assert "scripts/apply-env.sh" in copies and "sql/docker/entrypoint.sh" in copies


def test_gateway_runtime_is_small_and_not_root():
    final = stages("Dockerfile.gateway")[-1]
    assert final[1].startswith("debian:") and final[1].endswith("-slim")
    users = [a for i, a in final[2] if i == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    assert any(i == "EXPOSE" and "8000" in a for i, a in final[2])
    runs = " ".join(a for i, a in final[2] if i == "RUN")
    pkgs = set(re.findall(r"\b(lib[\w.+-]+|ca-certificates|curl|wget)\b", runs))
    assert pkgs <= {"libmicrohttpd12", "libpq5", "ca-certificates"}, pkgs
    health = [a for i, a in final[2] if i == "HEALTHCHECK"]
    assert "/ready" in health[-1]
    builder = [s for s in stages("Dockerfile.gateway") if s[0] == "builder"][0]
    runs = " ".join(a for i, a in builder[2] if i == "RUN")
    for pkg in ("build-essential", "libmicrohttpd-dev", "libpq-dev", "pkg-config", "make -C gateway"):
        assert pkg in runs


def test_dockerignore_keeps_local_state_out():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        lines = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    assert {".pgapp", ".env", ".git"} <= lines
