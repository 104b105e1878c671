"""scripts/lib.sh's load_env_file (how `make run` reads .env) reads a
.env file as Docker Compose does: quotes, inline comments, `export`,
spaces around `=`, CRLF, bare keys, ${NAME} references.  Each case has its
plain expected value, and the whole file is compared with what
`docker-compose config` makes of it, so the two cannot drift apart.  The
references docker-compose 1.29 and Compose v2 read differently are refused:
those tests pin what docker-compose 1.29 makes of them too."""
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


def compose_values(directory, names, **environ):
    """What `docker-compose config` makes of ${NAME} for each name, with
    directory/.env as the project's .env (its output writes $ as $$)."""
    with open(directory / "docker-compose.yml", "w") as f:
        yaml.safe_dump({"services": {"s": {"image": "scratch", "environment": {
            var: "${%s}" % var for var in names}}}}, f)
    proc = subprocess.run(compose_bin() + ["config"], cwd=directory, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], **environ})
    assert proc.returncode == 0, proc.stderr
    compose = yaml.safe_load(proc.stdout)["services"]["s"]["environment"]
    return {k: str(v).replace("$$", "$") for k, v in compose.items()}


def test_load_env_file_agrees_with_docker_compose(tmp_path):
    write_env(tmp_path / ".env", [line for line, _, _ in CASES])
    compose = compose_values(tmp_path, EXPECTED)
    _, got = load(tmp_path / ".env")
    assert {k: got.get(k) for k in EXPECTED} == compose


# References, as docker-compose 1.29 (python-dotenv 0.21) expands them: only
# ${NAME} and ${NAME:-default}; a name is looked up in the lines above first
# (even when the environment overrides that key), then in the environment.
SHELL = {"SHELL_ONLY": "from-the-shell", "OVERRIDDEN": "from-the-shell", "BARE_KEY": "from-the-shell"}
REFERENCES = [
    ("REF=file-value", "REF", "file-value"),
    ("BRACED=${REF}", "BRACED", "file-value"),
    ("AROUND=x${REF}y${REF}", "AROUND", "xfile-valueyfile-value"),
    ('DOUBLE="a ${REF} b"', "DOUBLE", "a file-value b"),
    ("DEFAULT_UNSET=${NOT_SET_ANYWHERE:-fallback}", "DEFAULT_UNSET", "fallback"),
    ("DEFAULT_SPACES=${NOT_SET_ANYWHERE:-two words} # comment", "DEFAULT_SPACES", "two words"),
    ("DEFAULT_SET=${REF:-fallback}", "DEFAULT_SET", "file-value"),
    ("EMPTY_ONE=", "EMPTY_ONE", ""),
    # unlike ${X:-d} in docker-compose.yml (and Compose v2), empty is kept
    ("DEFAULT_EMPTY=${EMPTY_ONE:-fallback}", "DEFAULT_EMPTY", ""),
    ("FROM_SHELL=${SHELL_ONLY}", "FROM_SHELL", "from-the-shell"),
    ("OVERRIDDEN=from-the-file", "OVERRIDDEN", "from-the-shell"),
    ("USES_OVERRIDDEN=${OVERRIDDEN}", "USES_OVERRIDDEN", "from-the-file"),
    ("UNDEFINED=${NOT_SET_ANYWHERE}", "UNDEFINED", ""),
    ("BEFORE=${DEFINED_BELOW}", "BEFORE", ""),
    ("DEFINED_BELOW=below", "DEFINED_BELOW", "below"),
    ("BARE_KEY", "BARE_KEY", "from-the-shell"),
    ("FROM_BARE=${BARE_KEY}", "FROM_BARE", ""),
    ("REDEFINED=first", "REDEFINED", "second"),
    ("AT_FIRST=${REDEFINED}", "AT_FIRST", "first"),
    ("REDEFINED=second", "REDEFINED", "second"),
    # a $ that starts no reference, and any $ in single quotes, is text
    ("SINGLE_DOLLARS='pa$word$$x$'", "SINGLE_DOLLARS", "pa$word$$x$"),
    ("LONE_DOLLAR=cost$ 5$", "LONE_DOLLAR", "cost$ 5$"),
    ("DOLLAR_DIGIT=a$1", "DOLLAR_DIGIT", "a$1"),
    ("COMMAND_TEXT=$(touch {pwned}) `touch {pwned}`", "COMMAND_TEXT", "$(touch {pwned}) `touch {pwned}`"),
]


def test_references_agree_with_docker_compose(tmp_path):
    pwned = str(tmp_path / "pwned")
    cases = [(line.replace("{pwned}", pwned), var, value.replace("{pwned}", pwned))
             for line, var, value in REFERENCES]
    expected = {var: value for _, var, value in cases}
    write_env(tmp_path / ".env", [line for line, _, _ in cases])
    p, got = load(tmp_path / ".env", **SHELL)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert {k: got.get(k) for k in expected} == expected
    assert compose_values(tmp_path, expected, **SHELL) == expected
    assert not os.path.exists(pwned)    # values are never run


# (value of X on line 3, load_env_file's reason, what docker-compose 1.29
# makes of it instead of refusing); line 2 is GOOD=1
NOT_SUPPORTED = "is not supported: docker-compose 1.29 keeps it as text or makes it empty; " \
    "use ${NAME} or ${NAME:-default}"
REFUSED = [
    ("secret-value$GOOD", "$NAME or $$ outside single quotes: docker-compose 1.29 keeps it as text, "
     "Compose v2 expands it; write ${NAME}, or the whole value in single quotes to keep the $",
     "secret-value$GOOD"),
    ('"secret-value$$x"', "$NAME or $$ outside single quotes: docker-compose 1.29 keeps it as text, "
     "Compose v2 expands it; write ${NAME}, or the whole value in single quotes to keep the $",
     "secret-value$$x"),
    ("'secret-value${GOOD}'", "${ inside single quotes: docker-compose 1.29 expands it, Compose v2 keeps "
     "it as text; write the reference unquoted or in double quotes", "secret-value1"),
    ("secret-value${GOOD", "${ without a closing }", "secret-value${GOOD"),
    ("secret-value${UNSET_VAR:?must be set}", "${NAME:?...} " + NOT_SUPPORTED,
     "secret-value${UNSET_VAR:?must be set}"),
    ("secret-value${GOOD:?must be set}", "${NAME:?...} " + NOT_SUPPORTED, "secret-value${GOOD:?must be set}"),
    ("secret-value${UNSET_VAR?must be set}", "${NAME?...} " + NOT_SUPPORTED, "secret-value"),
    ("secret-value${UNSET_VAR-fallback}", "${NAME-...} " + NOT_SUPPORTED, "secret-value"),
    ("secret-value${GOOD:+alternative}", "${NAME:+...} " + NOT_SUPPORTED, "secret-value${GOOD:+alternative}"),
    ("secret-value${GOOD+alternative}", "${NAME+...} " + NOT_SUPPORTED, "secret-value"),
    ("secret-value${UNSET_VAR:-${GOOD}}", "a $ inside the default of ${NAME:-default}: docker-compose 1.29 "
     "keeps it as text, Compose v2 expands it", "secret-value${GOOD}"),
    ("secret-value${}", "${...} must start with a variable name (letters, digits and _, not first a digit)",
     "secret-value"),
    ("secret-value${1GOOD}", "${...} must start with a variable name (letters, digits and _, not first a "
     "digit)", "secret-value"),
    ('"secret-value${GOOD }"', "${NAME...}: unexpected text after the variable name", "secret-value"),
]


@pytest.mark.parametrize("value, message, compose", REFUSED)
def test_a_reference_compose_reads_otherwise_stops_with_its_file_and_line(tmp_path, value, message, compose):
    path = tmp_path / ".env"
    write_env(path, ["# first", "GOOD=1", "X=" + value, "LATER=2"])
    p, got = load(path)
    assert p.returncode != 0 and got == {}
    assert p.stderr.splitlines() == ["bash: %s, line 3: X: %s" % (path, message)]
    assert "secret-value" not in p.stderr
    assert compose_values(tmp_path, ["X"]) == {"X": compose}


def test_the_environment_wins_and_a_bare_key_takes_it_from_there(tmp_path):
    write_env(tmp_path / ".env", ["PLAIN=from-the-file", "BARE", "BARE_COMMENTED # why", "UNSET_BARE",
                                  "UNDONE=1", "UNDONE"])
    p, got = load(tmp_path / ".env", PLAIN="from-the-shell", BARE="shell", BARE_COMMENTED="")
    assert p.returncode == 0, p.stderr
    assert got["PLAIN"] == "from-the-shell" and got["BARE"] == "shell" and got["BARE_COMMENTED"] == ""
    assert "UNSET_BARE" not in got      # it used to be set to the string "UNSET_BARE"
    assert "UNDONE" not in got          # the last line for a key wins, a bare one too
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
