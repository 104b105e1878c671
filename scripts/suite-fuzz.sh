#!/usr/bin/env bash
# A short libFuzzer pass (ASan + UBSan) over every target; `make fuzz`
# runs longer (FUZZ_SECONDS).  New inputs go to a scratch corpus; the
# committed seeds in tests/fuzz/corpus/TARGET are only read.  Binaries,
# corpora and crash files live in a directory of this run's own, so that
# runs side by side (make fuzz during make test) cannot remove or replace
# each other's; it is removed when every target passed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
seconds=${FUZZ_SECONDS:-10}
passed=0 failed=0
mkdir -p "$PGAPP_ROOT/.pgapp/build"
run=$(mktemp -d "$PGAPP_ROOT/.pgapp/build/fuzz-run.XXXXXX")
export FUZZ_BUILD=$run
for src in "$PGAPP_ROOT"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	work=$run/$t
	mkdir -p "$work/corpus" "$work/artifacts"
	if bin=$("$PGAPP_ROOT/tests/fuzz/build.sh" "$t") &&
		"$bin" -max_total_time="$seconds" -print_final_stats=0 \
			-artifact_prefix="$work/artifacts/" \
			"$work/corpus" "$PGAPP_ROOT/tests/fuzz/corpus/$t" 2>"$work/log"; then
		echo "fuzz_$t: $(grep -E 'Done [0-9]+ runs' "$work/log" | tail -1 | sed 's/^#[0-9]*[[:space:]]*//')"
		passed=$((passed + 1))
	else
		echo "fuzz_$t: FAILED (artifacts in $work/artifacts)"
		tail -30 "$work/log" 2>/dev/null
		failed=$((failed + 1))
	fi
done
[ "$failed" -gt 0 ] || rm -rf "$run"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
