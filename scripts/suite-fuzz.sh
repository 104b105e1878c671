#!/usr/bin/env bash
# A short libFuzzer pass (ASan + UBSan) over every target; `make fuzz`
# runs longer (FUZZ_SECONDS).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
seconds=${FUZZ_SECONDS:-10}
passed=0 failed=0
for src in "$PGAPP_ROOT"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c); t=${t#fuzz_}
	if bin=$("$PGAPP_ROOT/tests/fuzz/build.sh" "$t") && \
		work=$(mktemp -d) && cp -r "$PGAPP_ROOT/tests/fuzz/corpus/$t/." "$work/" 2>/dev/null; \
		"$bin" -max_total_time="$seconds" -print_final_stats=0 "$work" "$PGAPP_ROOT/tests/fuzz/corpus/$t" 2>"$work.log"; then
		echo "fuzz_$t: $(grep -E 'Done [0-9]+ runs' "$work.log" | tail -1 | sed 's/^#[0-9]*[[:space:]]*//')"
		passed=$((passed + 1))
	else
		echo "fuzz_$t: FAILED"; tail -30 "$work.log"
		failed=$((failed + 1))
	fi
	rm -rf "$work" "$work.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
