#!/bin/sh
# Builds the pgapp extension against one PostgreSQL installation and
# installs it.  The one build recipe, used by cluster.sh (host, PG 15), by
# pgchroot.sh (inside the chroot for PG 13 / 17) and by Dockerfile.db's
# builder stage.
#
#   build-extension.sh PG_CONFIG [DESTDIR]
#
# Without DESTDIR it installs into the PostgreSQL installation itself (the
# chroot, the image); with it, under DESTDIR (a staged copy).  LLVM bitcode
# is not built: JIT inlining of pgapp's functions is of no use, and it
# would need a clang matching the server's.
set -eu
pg_config=${1:?usage: build-extension.sh PG_CONFIG [DESTDIR]}
destdir=${2:-}
src=$(cd "$(dirname "$0")/../extension" && pwd)
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

make -s -C "$src" -j"$jobs" PG_CONFIG="$pg_config" with_llvm=no
# A version bump leaves the previous build's install script behind (say
# pgapp--1.2.sql, concatenated from sql/pgapp/), and PostgreSQL would
# prefer it to the released 1.0 script plus upgrade scripts: install
# exactly this tree's scripts.
rm -f "$destdir$("$pg_config" --sharedir)"/extension/pgapp--*.sql
if [ -n "$destdir" ]; then
	make -s -C "$src" PG_CONFIG="$pg_config" with_llvm=no install DESTDIR="$destdir" >/dev/null
else
	make -s -C "$src" PG_CONFIG="$pg_config" with_llvm=no install >/dev/null
fi
echo "build-extension.sh: pgapp built and installed for PostgreSQL $("$pg_config" --version | sed 's/^PostgreSQL //')${destdir:+ under $destdir}" >&2
