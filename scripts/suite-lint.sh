#!/usr/bin/env bash
# Every tracked C file is formatted as the root .clang-format says (STYLE.md):
# one check per file; `make format` fixes what fails.  Every tracked script
# (a file that starts with #!) is executable as git records it, since a
# fresh clone gets exactly that mode: one check per script.  The gateway and
# the extension are cppcheck- and scan-build-clean (STYLE.md): one check per
# tool and program, each on a scratch copy so that nothing built here mixes
# with the objects the other suites use.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$PGAPP_ROOT" || exit 1
for tool in clang-format cppcheck scan-build; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh)"
done
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

# analyze NAME CMD...: one check; the tool's report is shown when it fails
analyze() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "$name found problems:"
		echo "$out" | grep -vE '^(Checking|[0-9]+/[0-9]+ files checked)' | tail -40
	fi
}
# the host's PostgreSQL 15 headers, whatever PG says: 13 and 17 live in
# chroots, and the analysis is of pgapp's code, not of a server's
pg_config=/usr/lib/postgresql/15/bin/pg_config
scratch=$(mktemp -d "${TMPDIR:-/tmp}/pgapp-lint.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp -r gateway extension "$scratch/"
make -s -C "$scratch/gateway" clean >/dev/null
make -s -C "$scratch/extension" clean PG_CONFIG="$pg_config" >/dev/null 2>&1
# warning, performance and portability: the classes that find defects
# (cppcheck's style class argues about declaration scope)
cppcheck_opts=(-q '--enable=warning,performance,portability' --inline-suppr
	--error-exitcode=1 --suppress=missingIncludeSystem -D_GNU_SOURCE)
analyze "cppcheck (gateway)" cppcheck "${cppcheck_opts[@]}" -Igateway/src gateway/src
# PostgreSQL's headers need the compiler's and platform's own macros
analyze "cppcheck (extension)" cppcheck "${cppcheck_opts[@]}" -D__x86_64__ -D__GNUC__=12 \
	-D__linux__ -I"$("$pg_config" --includedir-server)" -Iextension/src extension/src
analyze "scan-build (gateway)" scan-build -o "$scratch/reports" --status-bugs \
	make -s -C "$scratch/gateway" PG_CONFIG="$pg_config" pgapp-gateway
analyze "scan-build (extension)" scan-build -o "$scratch/reports" --status-bugs \
	make -s -C "$scratch/extension" PG_CONFIG="$pg_config"
echo "$passed passed, $failed failed"
