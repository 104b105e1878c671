#!/usr/bin/env bash
# Every tracked C file is formatted as the root .clang-format says (STYLE.md):
# one check per file; `make format` fixes what fails.  Every tracked script
# (a file that starts with #!) is executable as git records it, since a
# fresh clone gets exactly that mode: one check per script.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PGAPP_ROOT" || exit 1
command -v clang-format >/dev/null || die "clang-format is missing (scripts/deps.sh)"
passed=0 failed=0
while IFS= read -r f; do
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "not formatted: $f (make format)"
	fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find extension gateway tests -name '*.[ch]')
while read -r mode _ _ f; do
	[ "$(head -c 2 "$f" 2>/dev/null)" = "#!" ] || continue
	if [ "$mode" = 100755 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "not executable in git: $f (git update-index --chmod=+x $f)"
	fi
done < <(git ls-files -s 2>/dev/null)
echo "$passed passed, $failed failed"
