#!/usr/bin/env bash
# Build one libFuzzer target into .pgapp/build/fuzz_TARGET (FUZZ_BUILD/fuzz_TARGET).
#
#   tests/fuzz/build.sh TARGET            build
#   tests/fuzz/build.sh TARGET SECONDS    build, then fuzz for SECONDS over
#                                         a scratch copy of the seed corpus (its
#                                         own directory, removed unless a crash
#                                         leaves artifacts in it)
#
# Targets (add yours to the case below):
#   token   JWS compact split + strict base64url (extension/src/base64url.c)
#   route   request-to-route mapping and strict unescape (gateway, built
#           by its Makefile's fuzz target)
#   multipart  multipart/form-data bodies (extension/src/multipart.c)
#   headers client address from X-Forwarded-For and TRUSTED_PROXIES, CORS
#           origins, Content-Length/Transfer-Encoding framing, header lines
#           (gateway/src/client.c, httpcheck.c)
#
# Needs clang with libFuzzer (Debian: clang).  Outputs, scratch corpora and
# crash files stay under .pgapp/build/ (or FUZZ_BUILD, a directory of the
# caller's own, so that concurrent runs never share a binary or a corpus),
# never in the source tree; copy a new interesting input into
# tests/fuzz/corpus/TARGET/ by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:?usage: tests/fuzz/build.sh TARGET [SECONDS]}
seconds=${2:-}
out=${FUZZ_BUILD:-$root/.pgapp/build}
CC=${CC:-clang}
flags=(-g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-Wall -Wextra -Werror)

case "$target" in
token)
	srcs=("$root/tests/fuzz/fuzz_token.c" "$root/extension/src/base64url.c")
	flags+=(-DPGAPP_STANDALONE -I"$root/extension/src")
	;;
multipart)
	srcs=("$root/tests/fuzz/fuzz_multipart.c" "$root/extension/src/multipart.c")
	flags+=(-DPGAPP_STANDALONE -I"$root/extension/src")
	;;
headers)
	srcs=("$root/tests/fuzz/fuzz_headers.c" "$root/gateway/src/client.c"
		"$root/gateway/src/httpcheck.c")
	flags+=(-D_GNU_SOURCE -I"$root/gateway/src")
	;;
route)
	make -s -C "$root/gateway" fuzz BUILD="$out" >&2
	srcs=()
	;;
*)
	echo "build.sh: unknown fuzz target: $target" >&2
	exit 2
	;;
esac

mkdir -p "$out"
[ ${#srcs[@]} -eq 0 ] || "$CC" "${flags[@]}" -o "$out/fuzz_$target" "${srcs[@]}"
echo "$out/fuzz_$target"

if [ -n "$seconds" ]; then
	work=$(mktemp -d "$out/fuzz-$target.XXXXXX")
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$root/tests/fuzz/corpus/$target" ]; then
		cp -a "$root/tests/fuzz/corpus/$target/." "$work/corpus/"
	fi
	"$out/fuzz_$target" -max_total_time="$seconds" -max_len=12000 \
		-artifact_prefix="$work/artifacts/" "$work/corpus"
	rm -rf "$work" # a crash exits above (set -e) and keeps it
fi
