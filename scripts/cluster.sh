#!/usr/bin/env bash
# Local PostgreSQL clusters for make run / make test / make bench.
#
#   cluster.sh stage            build the extension and install it where the
#                               server finds it; prints the stage directory
#   cluster.sh workdir          prints the directory under which cluster
#                               directories must be created
#   cluster.sh init DIR PORT    initdb in DIR, start, CREATE EXTENSION, apply env
#   cluster.sh create DIR PORT  initdb in DIR and start (no extension, no env)
#   cluster.sh start DIR        start an existing cluster
#   cluster.sh stop DIR [MODE]  stop it (pg_ctl -m MODE, default fast)
#   cluster.sh bin NAME         path of a binary (pg_ctl, psql, pgbench, pg_dump...)
#   cluster.sh bindir           the directory of those binaries
#
# PG selects the major.  PG=15 (Debian 12's own): a private copy of the
# server under .pgapp/stage-15 with the extension installed into it, so a
# non-root user can install the extension and the machine's PostgreSQL
# stays untouched.  PG=13 / PG=17: a Debian chroot (scripts/pgchroot.sh,
# root only) with the extension built inside it against that major's
# headers; the cluster directory lives inside the chroot (workdir) and
# `bin NAME` is a wrapper that runs NAME inside as the postgres user, with
# the same paths on both sides.  `bin psql` is the host's psql 15 for
# every major (it talks to 13 and 17 fine).
#
# Clusters listen on 127.0.0.1 and on a unix socket in DIR/sock; the
# superuser is "postgres" (trust over the socket only), every TCP login
# needs a password.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

chroot_mode() { [ "$PG" != 15 ]; }

stage_dir() {
	if [ -n "${PGAPP_STAGE:-}" ]; then
		echo "$PGAPP_STAGE"
	elif chroot_mode; then
		realpath -m "$PGAPP_ROOT/.pgapp/chroot-$PG"
	else
		echo "$PGAPP_ROOT/.pgapp/stage-$PG"
	fi
}

bindir() {
	if chroot_mode; then
		echo "$(stage_dir)/pgapp/bin"
	else
		echo "$(stage_dir)/usr/lib/postgresql/$PG/bin"
	fi
}

bin() { echo "$(bindir)/$1"; }

workdir() {
	if chroot_mode; then
		echo "$(stage_dir)/pgapp"
	else
		echo "$PGAPP_ROOT/.pgapp"
	fi
}

# Host-side wrappers for every binary of the chroot's server: each runs
# inside the chroot as postgres (psql: the host's).
write_wrappers() {
	local root=$1 dir name
	dir=$root/pgapp/bin
	rm -rf "$dir"
	mkdir -p "$dir"
	for name in "$root/usr/lib/postgresql/$PG/bin/"*; do
		name=$(basename "$name")
		[ "$name" != psql ] || continue
		printf '#!/bin/sh\n# PostgreSQL %s %s, run inside %s (written by scripts/cluster.sh)\nexec "%s" pgexec %s "/usr/lib/postgresql/%s/bin/%s" "$@"\n' \
			"$PG" "$name" "$root" "$PGAPP_ROOT/scripts/pgchroot.sh" "$PG" "$PG" "$name" >"$dir/$name"
		chmod 755 "$dir/$name"
	done
	ln -s /usr/lib/postgresql/15/bin/psql "$dir/psql"
}

cmd_stage() {
	local stage sys=/usr/lib/postgresql/$PG
	if chroot_mode; then
		stage=$("$PGAPP_ROOT/scripts/pgchroot.sh" ensure "$PG")
		"$PGAPP_ROOT/scripts/pgchroot.sh" build "$PG"
		write_wrappers "$stage"
		echo "$stage"
		return
	fi
	stage=$(stage_dir)
	[ -x "$sys/bin/postgres" ] || die "PostgreSQL $PG is not installed ($sys)"
	if [ ! -x "$stage/usr/lib/postgresql/$PG/bin/postgres" ]; then
		mkdir -p "$stage/usr/lib/postgresql" "$stage/usr/share/postgresql"
		cp -a "$sys" "$stage/usr/lib/postgresql/"
		cp -a "/usr/share/postgresql/$PG" "$stage/usr/share/postgresql/"
	fi
	"$PGAPP_ROOT/scripts/build-extension.sh" "$sys/bin/pg_config" "$stage" >&2
	chmod -R a+rX "$stage"
	echo "$stage"
}

# Run a server binary as the cluster's OS user (the chroot wrappers switch
# user themselves).
pg_run() {
	local name=$1
	shift
	if chroot_mode; then "$(bin "$name")" "$@"; else as_pg_user "$(bin "$name")" "$@"; fi
}

cmd_start() {
	local dir=$1
	pg_run pg_ctl -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
}

cmd_stop() {
	local dir=$1 mode=${2:-fast}
	[ -f "$dir/data/postmaster.pid" ] || return 0
	pg_run pg_ctl -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null || true
}

# As root, the postgres user must reach the cluster directory inside the
# checkout.  A checkout made in a private directory (`mktemp -d`, mode 0700)
# is opened for traversal only (o+x: no listing, no reading); a directory
# above the checkout is never changed: the check in cmd_create names it.
open_checkout() {
	[ "$(id -u)" -eq 0 ] || return 0
	! as_pg_user test -x "$PGAPP_ROOT" || return 0
	as_pg_user test -x "$(dirname "$PGAPP_ROOT")" || return 0
	chmod o+x "$PGAPP_ROOT"
	say "opened $PGAPP_ROOT for traversal (o+x) so that the postgres user reaches its clusters"
}

cmd_create() {
	local dir=$1 port=$2
	open_checkout
	if chroot_mode; then
		case "$(realpath -m "$dir")" in
		"$(workdir)"/*) ;;
		*) die "with PG=$PG the cluster directory must be under $(workdir)" ;;
		esac
	fi
	mkdir -p "$dir/sock"
	[ "$(id -u)" -ne 0 ] || chown -R postgres: "$dir"
	as_pg_user test -w "$dir" ||
		die "the $(pg_os_user) user cannot write $dir: every parent directory of the checkout must be traversable (chmod o+x)"
	pg_run initdb -D "$dir/data" -U postgres -A trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/sock'
max_connections = 100
shared_buffers = 128MB
fsync = ${PGAPP_FSYNC:-on}
logging_collector = off
log_line_prefix = '%m [%p] %u@%d '
CONF
	cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 scram-sha-256
HBA
	cmd_start "$dir"
}

cmd_init() {
	cmd_create "$1" "$2"
	"$PGAPP_ROOT/scripts/apply-env.sh" "$1" "$2"
}

case "${1:-}" in
stage) cmd_stage ;;
workdir) workdir ;;
init) cmd_init "$2" "$3" ;;
create) cmd_create "$2" "$3" ;;
start) cmd_start "$2" ;;
stop) cmd_stop "$2" "${3:-fast}" ;;
bin) bin "$2" ;;
bindir) bindir ;;
*) die "usage: cluster.sh stage|workdir|init DIR PORT|create DIR PORT|start DIR|stop DIR [MODE]|bin NAME|bindir" ;;
esac
