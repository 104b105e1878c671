"""scripts/image-build.py itself: .dockerignore, and a clear one-line error
for every recipe it cannot replay (each checked before anything is built
where possible; the rest on the cached Debian base)."""
import importlib.util
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "image-build.py")
_spec = importlib.util.spec_from_file_location("image_build", SCRIPT)
image_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(image_build)


def build(tmp_path, dockerfile, files=None, target="0", args=()):
    """Run image-build.py on a scratch context; (exit status, stderr, out dir)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, text in (files or {}).items():
        (ctx / name).write_text(text)
    out = tmp_path / "out"
    p = subprocess.run(["/usr/bin/python3", SCRIPT, str(ctx / "Dockerfile"), target, str(out),
                        "--context", str(ctx)] + list(args), capture_output=True, text=True)
    return p.returncode, p.stderr, out


@pytest.fixture
def scratch(tmp_path):
    """A scratch directory whose stage roots (copies of Debian) are removed."""
    yield tmp_path
    subprocess.run([os.path.join(ROOT, "scripts", "pgchroot.sh"), "sweep", str(tmp_path)])
    shutil.rmtree(tmp_path / "out", ignore_errors=True)


def test_the_projects_dockerignore_keeps_build_products_and_local_state_out():
    rules = image_build.ignore_rules(ROOT)
    for path in ("gateway/src/http.o", "gateway/pgapp-gateway", "extension/src/jwt.o",
                 ".pgapp/chroot-13/usr/bin/psql", ".git/HEAD", "bench/results/latest.json",
                 "extension/pgapp--1.0.sql", "tests/unit/run_tests"):
        assert image_build.ignored(rules, path), path
    for path in ("gateway/src/http.c", "gateway/Makefile", "sql/pgapp--1.0.sql",
                 "scripts/build-extension.sh", "extension/pgapp.control"):
        assert not image_build.ignored(rules, path), path


def test_dockerignore_exceptions_and_double_star(tmp_path):
    (tmp_path / ".dockerignore").write_text("# comment\n/docs\n**/*.log\n!keep/*.log\n")
    rules = image_build.ignore_rules(str(tmp_path))
    assert image_build.ignored(rules, "docs/a.md")
    assert image_build.ignored(rules, "a/b/c.log") and image_build.ignored(rules, "c.log")
    assert not image_build.ignored(rules, "keep/c.log")
    assert not image_build.ignored(rules, "src/docs.c")


def test_copy_of_the_context_leaves_ignored_files_out(scratch):
    rc, err, out = build(scratch, "FROM debian:bookworm-slim\nWORKDIR /ctx\nCOPY . .\n"
                         "RUN test -f keep.c && test ! -e build.o\n",
                         {".dockerignore": "*.o\n", "keep.c": "int x;\n", "build.o": "junk"})
    assert rc == 0, err
    assert os.path.exists(out / "rootfs" / "ctx" / "keep.c")
    assert not os.path.exists(out / "rootfs" / "ctx" / "build.o")


def test_copy_resolves_links_inside_the_image_and_never_writes_through_them(scratch):
    # /linked is an absolute link in the image: resolved on the host it
    # would name the host's /pgapp-image-build-test
    host_dir = "/pgapp-image-build-test"
    assert not os.path.lexists(host_dir)
    rc, err, out = build(scratch, "\n".join([
        "FROM debian:bookworm-slim",
        "RUN mkdir -p %s && ln -s %s /linked && ln -s /etc/hostname /replaced" % (host_dir, host_dir),
        "WORKDIR /linked/work",
        "COPY keep.c /linked/",
        "COPY keep.c /replaced",
        "COPY keep.c .",
        "RUN test -f %s/keep.c && test -f %s/work/keep.c" % (host_dir, host_dir),
        "RUN test ! -L /replaced && cmp -s /replaced %s/keep.c && ! cmp -s /etc/hostname /replaced" % host_dir,
        ""]), {"keep.c": "int x;\n"})
    assert rc == 0, err
    assert not os.path.lexists(host_dir), "written outside the image"


def test_a_failing_run_stops_the_build_with_its_line_and_status(scratch):
    rc, err, _ = build(scratch, "FROM debian:bookworm-slim\nRUN exit 3\nRUN touch /never\n")
    assert rc == 1
    assert err.strip().splitlines()[-1] == "image-build: line 2: RUN /bin/sh -c exit 3: exit status 3"


@pytest.mark.parametrize("dockerfile,files,target,args,message", [
    ("FROM alpine:3.19\n", {}, "0", [], "base image alpine:3.19 cannot be replayed without Docker"),
    ("RUN true\n", {}, "0", [], "line 1: RUN before the first FROM"),
    ("# nothing\n", {}, "0", [], "no FROM in the Dockerfile"),
    ("FROM debian:bookworm-slim AS a\n", {}, "b", [], "no stage b in"),
    ("FROM debian:bookworm-slim\nCOPY --from=later /x /x\nFROM debian:bookworm-slim AS later\n",
     {}, "0", [], "line 2: no earlier stage later"),
    ("FROM debian:bookworm-slim\nRUN true \\\n", {}, "0", [],
     "the last instruction ends with a line continuation"),
    ("FROM debian:bookworm-slim\n", {}, "0", ["--build-arg", "NOVALUE"],
     "--build-arg NOVALUE: expected NAME=VALUE"),
    ("FROM debian:bookworm-slim\nADD x /x\n", {}, "0", [], "line 2: ADD is not supported"),
    ("FROM debian:bookworm-slim\nCOPY ../outside /x\n", {}, "0", [],
     "line 2: COPY ../outside: outside the build context"),
    ("FROM debian:bookworm-slim\nCOPY missing /x\n", {}, "0", [],
     "line 2: COPY missing: no such file in the build context"),
    ("FROM debian:bookworm-slim\nCOPY secret.env /x\n", {".dockerignore": "*.env\n", "secret.env": "K=V"},
     "0", [], "line 2: COPY secret.env: excluded by .dockerignore"),
    ("FROM debian:bookworm-slim\nCOPY a b /x\n", {"a": "", "b": ""}, "0", [],
     "line 2: COPY of several sources needs a directory ending in /"),
    ("FROM debian:bookworm-slim\nCMD [\"sh\", 1]\n", {}, "0", [], "not an array of strings"),
])
def test_recipes_it_cannot_replay_get_one_clear_line(scratch, dockerfile, files, target, args, message):
    rc, err, _ = build(scratch, dockerfile, files, target, args)
    assert rc == 1
    lines = err.strip().splitlines()
    assert message in lines[-1], err
    assert "Traceback" not in err


def test_it_refuses_to_run_without_root(tmp_path):
    # the project's own recipe: readable by anyone (see README: the checkout
    # is opened for traversal), unlike pytest's private temporary directories
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", SCRIPT, os.path.join(ROOT, "Dockerfile.gateway"),
                        "runtime", str(tmp_path / "out")], capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.strip() == "image-build: needs root (debootstrap, chroot, mount)"


def test_the_configuration_follows_dockers_rules(scratch):
    rc, err, out = build(scratch, "\n".join([
        "ARG GREETING=hello",
        "FROM debian:bookworm-slim AS a",
        "ARG GREETING",
        'ENV MSG="${GREETING} world" EMPTY=${UNSET:-fallback}',
        "WORKDIR /app",
        "RUN test \"$MSG\" = 'hi world' && test \"$(pwd)\" = /app",
        'CMD ["echo", "a"]',
        "USER nobody",
        "FROM a AS b",
        'ENTRYPOINT ["true"]',
        'HEALTHCHECK --interval=5s CMD ["test", "-d", "/app"]',
        "STOPSIGNAL SIGINT",
        "FROM b AS never",
        "RUN exit 1",
        ""]), target="b", args=["--build-arg", "GREETING=hi"])
    assert rc == 0, err
    with open(out / "config.json") as f:
        config = json.load(f)
    assert config["env"]["MSG"] == "hi world" and config["env"]["EMPTY"] == "fallback"
    assert config["workdir"] == "/app" and config["user"] == "nobody"
    assert config["entrypoint"] == ["true"] and config["cmd"] is None  # ENTRYPOINT drops an inherited CMD
    assert config["healthcheck"] == ["test", "-d", "/app"] and config["stopsignal"] == "SIGINT"
    assert sorted(os.listdir(out / "stages")) == ["a", "b"]             # only what b needs
