# Shared helpers for pgapp's scripts.  Sourced, never run.
# shellcheck shell=bash

PGAPP_ROOT=${PGAPP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PG=${PG:-15}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

# A service run in the foreground until Ctrl-C (make run), stopped the
# same way whatever the order in which the signal reaches this shell and
# the service.  A terminal's Ctrl-C sends SIGINT to the whole process group:
# the service (the gateway) stops on it and exits 0, and bash runs its own
# INT trap only between two commands, so it may see the service's 0 from
# `wait` and be on its way out before its trap has run.  Hence a stop
# signal is also noted while the script exits, and decides the status:
#
#   on_stop FUNCTION   from now on every exit (the end, an error, SIGINT,
#                      SIGTERM) stops the service if it runs (SIGTERM, then
#                      waits), then runs FUNCTION, once; the status is 130
#                      after SIGINT, 143 after SIGTERM (128 + the signal),
#                      else the script's own
#   wait_service       after `CMD & service_pid=$!`: waits for it and exits
#                      with its status (a service that stops on its own)
service_pid=
stop_signal_status=
stop_cleanup=
on_stop() {
	stop_cleanup=$1
	trap stop_exit EXIT
	trap 'stop_signal_status=${stop_signal_status:-130}; exit 130' INT
	trap 'stop_signal_status=${stop_signal_status:-143}; exit 143' TERM
}
stop_exit() {
	local rc=$?
	trap - EXIT
	# A stop signal from now on is only noted: it neither cuts the clean-up
	# short nor is lost (with no trap, bash waiting for a command that exits
	# 0 carries on as if nothing happened, and the status was the service's).
	trap 'stop_signal_status=${stop_signal_status:-130}' INT
	trap 'stop_signal_status=${stop_signal_status:-143}' TERM
	set +e
	if [ -n "$service_pid" ]; then
		# it may be gone already (it saw the Ctrl-C too): not an error
		kill -TERM "$service_pid" 2>/dev/null
		wait "$service_pid" 2>/dev/null
		service_pid=
	fi
	"$stop_cleanup" || { [ "$rc" -ne 0 ] || rc=1; }
	exit "${stop_signal_status:-$rc}"
}
wait_service() {
	local rc=0
	wait "$service_pid" || rc=$?
	service_pid=
	exit "$rc"
}

# The OS user that owns clusters: PostgreSQL refuses to run as root.
pg_os_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the cluster's OS user.
as_pg_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A free TCP port on loopback.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Read an env file into the environment, without overriding what the
# environment already sets, the way Docker Compose reads .env:
#   KEY=value            unquoted: trimmed; " #" (whitespace, then #) starts
#                        a comment; quotes inside are kept (abc" is abc")
#   KEY='value'          single quotes: literal
#   KEY="va\"lue"        double quotes: \" \\ \n \r \t \' are escapes
#   export KEY=value     the export prefix is ignored; spaces around = too
#   KEY                  no value: the environment's, or left unset
# CRLF line ends and a UTF-8 byte-order mark are ignored; a later line for
# the same KEY wins.  A line that does not parse stops with one line naming
# the file and the line number (never the value: it may be a secret).
load_env_file() {
	local file=$1 line key rest value n=0 name
	local -A values=()
	local -a keys=()
	[ -f "$file" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		[ "$n" -ne 1 ] || line=${line#$'\xef\xbb\xbf'}
		line=${line%$'\r'}
		line=${line#"${line%%[![:space:]]*}"}
		case "$line" in '' | '#'*) continue ;; esac
		[[ "$line" =~ ^export[[:space:]]+(.*)$ ]] && line=${BASH_REMATCH[1]}
		[[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*(.*)$ ]] ||
			die "$file, line $n: expected KEY=VALUE (KEY: letters, digits and _, not first a digit)"
		key=${BASH_REMATCH[1]}
		rest=${BASH_REMATCH[2]}
		# a bare KEY (a comment may follow): the environment's value
		[[ "$rest" =~ ^(#.*)?$ ]] && continue
		[[ "$rest" == =* ]] || die "$file, line $n: expected KEY=VALUE"
		rest=${rest#=}
		value=${rest#"${rest%%[![:space:]]*}"}
		case "$value" in
		\'*)
			rest=${value#\'}
			[[ "$rest" == *\'* ]] || die "$file, line $n: $key: no closing single quote"
			value=${rest%%\'*}
			rest=${rest#*\'}
			;;
		\"*)
			env_unquote "${value#\"}" || die "$file, line $n: $key: no closing double quote"
			value=$REPLY
			rest=$REPLY_REST
			;;
		*)
			# an unquoted value: the comment starts at the first # after
			# whitespace (the whitespace after = included)
			value=${rest%%[[:space:]]#*}
			value=${value#"${value%%[![:space:]]*}"}
			value=${value%"${value##*[![:space:]]}"}
			rest=
			;;
		esac
		[[ "$rest" =~ ^[[:space:]]*(#.*)?$ ]] ||
			die "$file, line $n: $key: unexpected text after the closing quote"
		[ -n "${values[$key]+x}" ] || keys+=("$key")
		values[$key]=$value
	done <"$file"
	for name in "${keys[@]}"; do
		[ -n "${!name+x}" ] || export "$name=${values[$name]}"
	done
}

# env_unquote TEXT: TEXT follows an opening double quote; sets REPLY to the
# value up to the closing quote, escapes resolved, and REPLY_REST to what
# follows it.  Fails when there is no closing quote.
env_unquote() {
	local text=$1 i=0 c
	REPLY=
	while [ "$i" -lt "${#text}" ]; do
		c=${text:i:1}
		if [ "$c" = '"' ]; then
			REPLY_REST=${text:i+1}
			return 0
		fi
		if [ "$c" = '\' ] && [ $((i + 1)) -lt "${#text}" ]; then
			i=$((i + 1))
			c=${text:i:1}
			case "$c" in
			n) c=$'\n' ;;
			r) c=$'\r' ;;
			t) c=$'\t' ;;
			'"' | '\' | "'") ;;
			*) c="\\$c" ;;
			esac
		fi
		REPLY+=$c
		i=$((i + 1))
	done
	return 1
}

# pytest over DIRS..., then one line "N passed, N failed" from its JUnit
# report: a skip counts as a failure (a strict xfail is a pinned, expected
# failure and counts as a pass).  run_pytest XMLFILE DIR... [pytest args]
run_pytest() {
	local xml=$1
	shift
	/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml="$xml" "$@"
	/usr/bin/python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 passed, 1 failed"); sys.exit(1)
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get(k, 0)) for s in suites for k in ("failures", "errors", "skipped"))
xfail = 0
for case in root.iter("testcase"):
    for sk in case.findall("skipped"):
        if (sk.get("type") or "") == "pytest.xfail":
            xfail += 1
bad -= xfail
print(f"{tests - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
}
