#!/usr/bin/env bash
# PostgreSQL majors that Debian 12 does not ship (13 from bullseye, 17 from
# trixie), each in a minimal Debian chroot cached under .pgapp/chroot-MAJOR.
# Root only (debootstrap, chroot).  Used by cluster.sh for PG=13 / PG=17.
#
#   pgchroot.sh ensure MAJOR       create the chroot when missing; prints its root
#   pgchroot.sh build MAJOR        build + install the extension inside it with
#                                  the chroot's compiler and headers
#   pgchroot.sh exec MAJOR CMD...  run CMD inside, as root
#   pgchroot.sh pgexec MAJOR CMD...  run CMD inside, as the postgres user
#   pgchroot.sh sweep DIR          kill the processes whose root, cwd or
#                                  executable is under DIR, then unmount
#                                  everything under DIR
#
# Paths are the same inside and outside: the chroot holds a relative
# symlink at its own host path that leads back to its root, so a host path
# under the chroot (a cluster directory, a socket, a log file) names the
# same file for a process inside.  Cluster directories therefore live under
# ROOT/pgapp/ (cluster.sh workdir).
#
# Nothing stays mounted and nothing keeps running when this script exits:
# /proc is mounted only around apt-get/dpkg and unmounted by a trap (a mount
# left inside a checkout breaks whoever deletes it, e.g. CI).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

declare -A SUITE=([13]=bullseye [17]=trixie)

chroot_root() {
	local major=$1
	[ -n "${SUITE[$major]:-}" ] || die "no chroot recipe for PostgreSQL $major (known: ${!SUITE[*]})"
	mkdir -p "$PGAPP_ROOT/.pgapp"
	realpath -m "$PGAPP_ROOT/.pgapp/chroot-$major"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "PostgreSQL $1 runs in a chroot, which needs root (PostgreSQL 15 does not: PG=15)"
}

# Unmount every mount point under $1 (deepest first), lazily if busy.
umount_under() {
	local dir=$1 m
	[ -d "$dir" ] || return 0
	dir=$(realpath "$dir")
	findmnt -rn -o TARGET 2>/dev/null | awk -v d="$dir" 'index($0, d "/") == 1 || $0 == d' |
		sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

# This process and its ancestors: never targets of kill_under.
ancestors() {
	local pid=$BASHPID
	while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
		echo "$pid"
		pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	done
	echo "$$"
}

# Kill the processes whose root, cwd or executable is under $1.
kill_under() {
	local dir=$1 p target pids=() self
	[ -d "$dir" ] || return 0
	dir=$(realpath "$dir")
	self=" $(ancestors | tr '\n' ' ') "
	for p in /proc/[0-9]*; do
		[[ "$self" != *" ${p#/proc/} "* ]] || continue
		for target in "$(readlink "$p/root" 2>/dev/null)" "$(readlink "$p/cwd" 2>/dev/null)" \
			"$(readlink "$p/exe" 2>/dev/null)"; do
			case "$target" in "$dir" | "$dir"/*) pids+=("${p#/proc/}"); break ;; esac
		done
	done
	[ ${#pids[@]} -eq 0 ] && return 0
	echo "pgchroot.sh: stopping leftover processes under $dir: ${pids[*]}" >&2
	kill -TERM "${pids[@]}" 2>/dev/null || true
	sleep 1
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

cmd_sweep() {
	kill_under "$1"
	umount_under "$1"
}

# The symlink that makes host paths valid inside (see the header).
link_self() {
	local root=$1 up="" rest
	rest=${root#/}
	while [[ "$rest" == */* ]]; do up="../$up"; rest=${rest#*/}; done
	mkdir -p "$root$(dirname "$root")"
	ln -sfn "${up:-.}" "$root$root"
	mkdir -p "$root/pgapp"
}

with_proc() {
	local root=$1
	shift
	mount -t proc proc "$root/proc"
	local rc=0
	"$@" || rc=$?
	umount "$root/proc" 2>/dev/null || umount -l "$root/proc"
	return $rc
}

in_root() {
	local root=$1
	shift
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

cmd_ensure() {
	local major=$1 root suite pkgs
	need_root "$major"
	root=$(chroot_root "$major")
	suite=${SUITE[$major]}
	pkgs="postgresql-$major postgresql-server-dev-$major build-essential libssl-dev"
	# One creator at a time (two test runs, or a run and a prefetch).
	exec 9>"$root.lock"
	flock 9
	if [ "$(cat "$root/.pgapp-ready" 2>/dev/null)" != "$pkgs" ]; then
		trap 'umount_under "'"$root"'"' EXIT
		trap 'exit 130' INT TERM
		umount_under "$root"
		rm -rf "$root"
		say "chroot for PostgreSQL $major: debootstrap $suite (once; cached in $root)"
		# No mirror argument: debootstrap's own default.
		debootstrap --variant=minbase "$suite" "$root" >"$root.log" 2>&1 ||
			{ tail -20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
		umount_under "$root"
		printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
		chmod 755 "$root/usr/sbin/policy-rc.d"
		mkdir -p "$root/etc/postgresql-common"
		echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
		cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
		mkdir -p "$root/dev/shm" && chmod 1777 "$root/dev/shm"
		# The same uid/gid as the host's postgres, so file owners agree on both sides.
		local uid gid
		uid=$(id -u postgres) gid=$(id -g postgres)
		! cut -d: -f3 "$root/etc/group" | grep -qx "$gid" || die "gid $gid is taken in the chroot"
		! cut -d: -f3 "$root/etc/passwd" | grep -qx "$uid" || die "uid $uid is taken in the chroot"
		echo "postgres:x:$gid:" >>"$root/etc/group"
		echo "postgres:x:$uid:$gid:PostgreSQL administrator:/var/lib/postgresql:/bin/bash" >>"$root/etc/passwd"
		echo "postgres:*:19000:0:99999:7:::" >>"$root/etc/shadow"
		say "chroot for PostgreSQL $major: apt-get install $pkgs"
		with_proc "$root" in_root "$root" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs" \
			>>"$root.log" 2>&1 || { tail -20 "$root.log" >&2; die "apt-get in the chroot failed (log: $root.log)"; }
		in_root "$root" apt-get clean
		umount_under "$root"
		trap - EXIT INT TERM
		echo "$pkgs" >"$root/.pgapp-ready"
	fi
	link_self "$root"
	echo "$root"
}

cmd_exec() {
	local major=$1 root
	shift
	need_root "$major"
	root=$(chroot_root "$major")
	[ -f "$root/.pgapp-ready" ] || die "no chroot for PostgreSQL $major: run pgchroot.sh ensure $major"
	exec chroot "$root" /usr/bin/env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

cmd_pgexec() {
	local major=$1 root
	shift
	need_root "$major"
	root=$(chroot_root "$major")
	[ -f "$root/.pgapp-ready" ] || die "no chroot for PostgreSQL $major: run pgchroot.sh ensure $major"
	exec chroot --userspec="$(id -u postgres):$(id -g postgres)" "$root" \
		/usr/bin/env PATH=/usr/lib/postgresql/$major/bin:/usr/bin:/bin HOME=/var/lib/postgresql \
		USER=postgres LOGNAME=postgres "$@"
}

cmd_build() {
	local major=$1 root src
	root=$(cmd_ensure "$major")
	src=$root/pgapp/src
	rm -rf "$src"
	mkdir -p "$src/scripts"
	# Sources only: objects built for the host's major must not leak in.
	tar -C "$PGAPP_ROOT" --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude='extension/pgapp--*.sql' -cf - extension sql | tar -C "$src" -xf -
	cp "$PGAPP_ROOT/scripts/build-extension.sh" "$src/scripts/"
	in_root "$root" /pgapp/src/scripts/build-extension.sh "/usr/lib/postgresql/$major/bin/pg_config" >&2
}

case "${1:-}" in
ensure) cmd_ensure "$2" ;;
build) cmd_build "$2" ;;
exec) shift; cmd_exec "$@" ;;
pgexec) shift; cmd_pgexec "$@" ;;
sweep) cmd_sweep "$2" ;;
*) die "usage: pgchroot.sh ensure|build MAJOR | exec|pgexec MAJOR CMD... | sweep DIR" ;;
esac
