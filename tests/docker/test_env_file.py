"""scripts/lib.sh's load_env_file (how `make run` reads .env) reads a
.env file as Docker Compose does: quotes, inline comments, `export`,
spaces around `=`, CRLF, bare keys.  Each case has its plain expected
value, and the whole file is compared with what `docker-compose config`
makes of it, so the two cannot drift apart."""
import os
import subprocess

import pytest
import yaml

from conftest import ROOT, compose_bin

LIB = os.path.join(ROOT, "scripts", "lib.sh")

# (line of the .env file, variable, expected value); None: left unset
CASES = [
    ("PLAIN=value", "PLAIN", "value"),
    ("SINGLE='x'", "SINGLE", "x"),
    ("SINGLE_SPACES='a b # not a comment'", "SINGLE_SPACES", "a b # not a comment"),
    ("SINGLE_LITERAL='a\"b'", "SINGLE_LITERAL", 'a"b'),
    ('DOUBLE="x y"', "DOUBLE", "x y"),
    ('DOUBLE_ESCAPES="q\\"b\\\\s\\nn"', "DOUBLE_ESCAPES", 'q"b\\s\nn'),
    ('DOUBLE_COMMENT="v" # after the quotes', "DOUBLE_COMMENT", "v"),
    ("COMMENTED=plain # a comment", "COMMENTED", "plain"),
    ("HASH_INSIDE=a#b", "HASH_INSIDE", "a#b"),
    ('TRAILING_QUOTE=abc"', "TRAILING_QUOTE", 'abc"'),
    ("export EXPORTED=1", "EXPORTED", "1"),
    ("SPACED = v", "SPACED", "v"),
    ("TRIMMED=  padded  ", "TRIMMED", "padded"),
    ("  INDENTED=yes", "INDENTED", "yes"),
    ("CRLF=dos\r", "CRLF", "dos"),
    ("EMPTY=", "EMPTY", ""),
    ("URL=postgresql://u:p@h:5432/d?x=1", "URL", "postgresql://u:p@h:5432/d?x=1"),
    ("TWICE=first", "TWICE", "second"),
    ("TWICE=second", "TWICE", "second"),
    ("# a comment line", None, None),
    ("   # an indented comment", None, None),
    ("", None, None),
]
EXPECTED = {var: value for _, var, value in CASES if var}


def write_env(path, lines):
    with open(path, "w", newline="") as f:
        f.write("\n".join(lines) + "\n")


def load(path, **environ):
    """The variables load_env_file sets from path, in a clean environment."""
    env = {"PATH": os.environ["PATH"], **environ}
    p = subprocess.run(["bash", "-c", '. "$1" && load_env_file "$2" && env -0', "bash", LIB, str(path)],
                       env=env, capture_output=True, text=True)
    return p, dict(kv.split("=", 1) for kv in p.stdout.split("\0") if kv)


def test_load_env_file_reads_each_case_as_compose_does(tmp_path):
    write_env(tmp_path / ".env", [line for line, _, _ in CASES])
    p, got = load(tmp_path / ".env")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert {k: got.get(k) for k in EXPECTED} == EXPECTED


def test_load_env_file_agrees_with_docker_compose(tmp_path):
    write_env(tmp_path / ".env", [line for line, _, _ in CASES])
    with open(tmp_path / "docker-compose.yml", "w") as f:
        yaml.safe_dump({"services": {"s": {"image": "scratch", "environment": {
            var: "${%s}" % var for var in EXPECTED}}}}, f)
    proc = subprocess.run(compose_bin() + ["config"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr
    compose = yaml.safe_load(proc.stdout)["services"]["s"]["environment"]
    _, got = load(tmp_path / ".env")
    assert {k: got.get(k) for k in EXPECTED} == {k: str(v) for k, v in compose.items()}


def test_the_environment_wins_and_a_bare_key_takes_it_from_there(tmp_path):
    write_env(tmp_path / ".env", ["PLAIN=from-the-file", "BARE", "BARE_COMMENTED # why", "UNSET_BARE"])
    p, got = load(tmp_path / ".env", PLAIN="from-the-shell", BARE="shell", BARE_COMMENTED="")
    assert p.returncode == 0, p.stderr
    assert got["PLAIN"] == "from-the-shell" and got["BARE"] == "shell" and got["BARE_COMMENTED"] == ""
    assert "UNSET_BARE" not in got      # it used to be set to the string "UNSET_BARE"
    # what Compose does with the same bare key taken from the environment
    with open(tmp_path / "docker-compose.yml", "w") as f:
        yaml.safe_dump({"services": {"s": {"image": "scratch", "environment": {"BARE": "${BARE}"}}}}, f)
    proc = subprocess.run(compose_bin() + ["config"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "BARE": "shell"})
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["services"]["s"]["environment"]["BARE"] == "shell"


@pytest.mark.parametrize("line, message", [
    ("OPEN='secret-value", "OPEN: no closing single quote"),
    ('OPEN="secret-value', "OPEN: no closing double quote"),
    ("AFTER='secret-value' junk", "AFTER: unexpected text after the closing quote"),
    ("1BAD=secret-value", "expected KEY=VALUE (KEY: letters, digits and _, not first a digit)"),
    ("BAD-KEY=secret-value", "expected KEY=VALUE"),
    ("NO EQUALS secret-value", "expected KEY=VALUE"),
])
def test_a_line_that_does_not_parse_stops_with_its_file_and_line(tmp_path, line, message):
    path = tmp_path / ".env"
    write_env(path, ["# first", "GOOD=1", line, "LATER=2"])
    p, got = load(path)
    assert p.returncode != 0 and got == {}
    assert p.stderr.splitlines() == ["bash: %s, line 3: %s" % (path, message)]
    assert "secret-value" not in p.stderr
