#!/usr/bin/env bash
# End-to-end suites (HTTP, security, faults, docker) with pytest against
# the live gateway and cluster started by test.sh.  Skips count as failures.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$1
cd "$PGAPP_ROOT" || exit 1
dirs=()
for d in tests/e2e tests/security tests/faults tests/docker; do
	ls "$d"/test_*.py >/dev/null 2>&1 && dirs+=("$d")
done
# shellcheck disable=SC2086 # PYTEST_ARGS: one word, e.g. -kname
run_pytest "$tmp/pytest.xml" "${dirs[@]}" ${PYTEST_ARGS:-}
