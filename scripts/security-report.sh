#!/usr/bin/env bash
# make security-report: run the security and fault suites and print, per
# file and per class of attack, how many cases ran and how many passed.
#
# Against a running system (PGAPP_BASE_URL etc. exported, as test.sh does)
# the suites run directly; otherwise the throwaway cluster and gateway of
# test.sh are started for them (SUITES=e2e with PYTEST_ARGS narrowed).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PGAPP_ROOT"
xml=$(mktemp "${TMPDIR:-/tmp}/pgapp-security.XXXXXX.xml")
trap 'rm -f "$xml"' EXIT
dirs=(tests/security tests/faults)

if [ -n "${PGAPP_BASE_URL:-}" ]; then
	/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$xml" "${dirs[@]}" >&2
else
	# test.sh's throwaway system, its e2e suite narrowed to ours; KEEP=1 so
	# its junit file can be read (the directory is removed below)
	log=$(mktemp)
	PYTEST_ARGS="--ignore=tests/e2e --ignore=tests/docker" SUITES=e2e KEEP=1 \
		"$PGAPP_ROOT/scripts/test.sh" 2>"$log" >&2
	run_dir=$(sed -n 's/^gateway log: \(.*\)\/gateway.log$/\1/p' "$log" | tail -1)
	cat "$log" >&2
	rm -f "$log"
	[ -n "$run_dir" ] && [ -f "$run_dir/pytest.xml" ] || die "the suites did not run (see above)"
	cp "$run_dir/pytest.xml" "$xml"
	rm -rf "$run_dir"
fi

/usr/bin/python3 - "$xml" <<'PY'
import collections
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print(f"no results: {e}")
    sys.exit(1)

# class of a case: the file, then the test function without parameters
classes = collections.OrderedDict()
for case in root.iter("testcase"):
    file = case.get("classname", "")
    name = case.get("name", "").split("[")[0]
    if not (file.startswith("tests.security") or file.startswith("tests.faults")):
        continue
    outcome = "passed"
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            outcome = tag
    key = (file.replace(".", "/") + ".py", name)
    ran, ok = classes.get(key, (0, 0))
    classes[key] = (ran + 1, ok + (outcome == "passed"))

if not classes:
    print("no security or fault cases ran")
    sys.exit(1)
width = max(len(n) for _, n in classes) + 2
total_ran = total_ok = 0
current = None
for (file, name), (ran, ok) in classes.items():
    if file != current:
        current = file
        fran = sum(r for (f, _), (r, _) in classes.items() if f == file)
        fok = sum(o for (f, _), (_, o) in classes.items() if f == file)
        print(f"\n{file}: {fok}/{fran} passed")
    mark = "ok  " if ran == ok else "FAIL"
    print(f"  {mark} {name:<{width}} {ok:>4}/{ran:<4}")
    total_ran += ran
    total_ok += ok
print(f"\nsecurity report: {total_ok} of {total_ran} cases passed, {total_ran - total_ok} failed")
sys.exit(0 if total_ok == total_ran else 1)
PY
