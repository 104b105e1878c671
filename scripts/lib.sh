# Shared helpers for pgapp's scripts.  Sourced, never run.
# shellcheck shell=bash

PGAPP_ROOT=${PGAPP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PG=${PG:-15}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

# The OS user that owns clusters: PostgreSQL refuses to run as root.
pg_os_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the cluster's OS user.
as_pg_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free TCP port on loopback.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Read KEY=VALUE lines of an env file into the environment, without
# overriding what the environment already sets (as Docker Compose does).
load_env_file() {
	local file=$1 line key value
	[ -f "$file" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in ''|'#'*) continue ;; esac
		key=${line%%=*}
		value=${line#*=}
		[[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$file: bad line: $key"
		value=${value%\"}; value=${value#\"}
		[ -n "${!key+x}" ] || export "$key=$value"
	done <"$file"
}

# pytest over DIRS..., then one line "N passed, N failed" from its JUnit
# report: a skip counts as a failure (a strict xfail is a pinned, expected
# failure and counts as a pass).  run_pytest XMLFILE DIR... [pytest args]
run_pytest() {
	local xml=$1
	shift
	/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$xml" "$@"
	/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 passed, 1 failed"); sys.exit(1)
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get(k, 0)) for s in suites for k in ("failures", "errors", "skipped"))
xfail = 0
for case in root.iter("testcase"):
    for sk in case.findall("skipped"):
        if (sk.get("type") or "") == "pytest.xfail":
            xfail += 1
bad -= xfail
print(f"{tests - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
}
