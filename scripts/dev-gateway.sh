#!/usr/bin/env bash
# The gateway's development loop (the dev stage of Dockerfile.gateway; also
# usable on a host): build the gateway from the sources in $PGAPP_SRC (a
# scratch copy, so the mounted tree stays clean), run it, and when a file
# under gateway/ changes, rebuild and restart it.  Polls once a second, so
# it works on any bind mount (inotify events do not cross every one).  A
# failed build keeps the running gateway and prints the compiler's errors.
# A gateway that exits is started again, except when it refused to start
# (exit status 2: a bad setting, or a database role it must not use): that
# stops the loop with the same status, since a restart would only repeat
# the refusal every two seconds.
set -uo pipefail
src=${PGAPP_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d)
pid=
# gateway/src/main.c: the gateway's exit status when it refuses to start
EXIT_REFUSED=2

stop_gateway() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}
trap 'stop_gateway; rm -rf "$work"; exit 0' TERM INT

fingerprint() {
	find "$src/gateway" -type f \( -name '*.c' -o -name '*.h' -o -name Makefile \) \
		-printf '%P %T@ %s\n' 2>/dev/null | sort | md5sum
}

build() {
	rm -rf "$work/gateway"
	cp -r "$src/gateway" "$work/gateway"
	find "$work/gateway" \( -name '*.o' -o -name pgapp-gateway \) -delete
	# a new file renamed over the old: the running binary cannot be
	# overwritten in place ("Text file busy")
	make -s -C "$work/gateway" && cp "$work/gateway/pgapp-gateway" "$work/pgapp-gateway.new" &&
		mv -f "$work/pgapp-gateway.new" "$work/pgapp-gateway.run"
}

seen=
while :; do
	now=$(fingerprint)
	if [ "$now" != "$seen" ]; then
		seen=$now
		echo "dev-gateway: building" >&2
		if build; then
			stop_gateway
			"$work/pgapp-gateway.run" &
			pid=$!
			echo "dev-gateway: gateway running (pid $pid)" >&2
		else
			echo "dev-gateway: build failed; the previous gateway keeps running" >&2
		fi
	fi
	if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		rc=$?
		pid=
		if [ "$rc" -eq "$EXIT_REFUSED" ]; then
			echo "dev-gateway: the gateway refused to start (exit $rc, its reason above); fix the setting and start again" >&2
			rm -rf "$work"
			exit "$rc"
		fi
		echo "dev-gateway: gateway exited ($rc); restarting in 2 s" >&2
		sleep 2
		"$work/pgapp-gateway.run" &
		pid=$!
	fi
	sleep 1 & wait $!
done
