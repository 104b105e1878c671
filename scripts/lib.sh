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
#
# References in values, as docker-compose 1.29 (python-dotenv) expands them
# (env_interpolate): ${NAME} and ${NAME:-default}, looked up first in the
# lines above (a bare KEY there counts as empty), then in the environment;
# :- takes the default only when NAME is unset, not when it is empty.
# Syntax that docker-compose 1.29 and Compose v2 read differently is
# refused rather than given one of the two meanings: $NAME and $$ outside
# single quotes (1.29 keeps them, v2 expands), ${ inside single quotes
# (1.29 expands, v2 keeps it), the other ${NAME...} forms (:? ? - :+ +:
# 1.29 keeps the text or makes it empty), a $ in a default, and a ${
# without its }.
load_env_file() {
	local file=$1 line key rest value n=0 name quote
	local -A values=() bare=()
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
		# a bare KEY (a comment may follow): the environment's value; it
		# also undoes an earlier KEY=value, as in Compose
		if [[ "$rest" =~ ^(#.*)?$ ]]; then
			[ -n "${values[$key]+x}" ] || [ -n "${bare[$key]+x}" ] || keys+=("$key")
			unset "values[$key]"
			bare[$key]=1
			continue
		fi
		[[ "$rest" == =* ]] || die "$file, line $n: expected KEY=VALUE"
		rest=${rest#=}
		value=${rest#"${rest%%[![:space:]]*}"}
		quote=${value:0:1}
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
		env_interpolate "$value" "$quote" || die "$file, line $n: $key: $REPLY"
		value=$REPLY
		[ -n "${values[$key]+x}" ] || [ -n "${bare[$key]+x}" ] || keys+=("$key")
		unset "bare[$key]"
		values[$key]=$value
	done <"$file"
	for name in "${keys[@]}"; do
		[ -z "${bare[$name]+x}" ] || continue
		[ -n "${!name+x}" ] || export "$name=${values[$name]}"
	done
}

# env_interpolate VALUE QUOTE: VALUE read from an env file (QUOTE: its
# opening quote, if any) with its references expanded as docker-compose 1.29
# does, into REPLY; on a reference it refuses, fails with the reason in
# REPLY (never the value).  Lines read so far are the caller's values and
# bare arrays (load_env_file); the environment is the exported one, as
# Compose sees it.  Nothing is evaluated: names are checked, then looked up.
# shellcheck disable=SC2016 # the messages quote the syntax: no expansion meant
env_interpolate() {
	local text=$1 quote=$2 out='' ref name op default
	local name_re='^[A-Za-z_][A-Za-z0-9_]*'
	if [ "$quote" = "'" ]; then
		REPLY=$text
		[[ "$text" != *'${'* ]] && return 0
		REPLY='${ inside single quotes: docker-compose 1.29 expands it, Compose v2 keeps it as text; write the reference unquoted or in double quotes'
		return 1
	fi
	while [[ "$text" == *'$'* ]]; do
		out+=${text%%\$*}
		text=${text#*\$}
		if [[ "$text" =~ ^[A-Za-z_$] ]]; then
			REPLY='$NAME or $$ outside single quotes: docker-compose 1.29 keeps it as text, Compose v2 expands it; write ${NAME}, or the whole value in single quotes to keep the $'
			return 1
		fi
		if [[ "$text" != '{'* ]]; then
			out+='$'
			continue
		fi
		if [[ "$text" != *'}'* ]]; then
			REPLY='${ without a closing }'
			return 1
		fi
		ref=${text:1}
		ref=${ref%%\}*}
		text=${text#*\}}
		if ! [[ "$ref" =~ $name_re ]]; then
			REPLY='${...} must start with a variable name (letters, digits and _, not first a digit)'
			return 1
		fi
		name=${BASH_REMATCH[0]}
		op=${ref#"$name"}
		default=
		case "$op" in
		'') ;;
		:-*)
			default=${op#:-}
			if [[ "$default" == *'$'* ]]; then
				REPLY='a $ inside the default of ${NAME:-default}: docker-compose 1.29 keeps it as text, Compose v2 expands it'
				return 1
			fi
			;;
		:\?* | \?* | -* | :+* | +*)
			[[ "$op" == :* ]] && op=${op:0:2} || op=${op:0:1}
			REPLY=$(printf '${NAME%s...} is not supported: docker-compose 1.29 keeps it as text or makes it empty; use ${NAME} or ${NAME:-default}' "$op")
			return 1
			;;
		*)
			REPLY='${NAME...}: unexpected text after the variable name'
			return 1
			;;
		esac
		if [ -n "${values[$name]+x}" ]; then
			out+=${values[$name]}
		elif [ -n "${bare[$name]+x}" ]; then
			: # a bare KEY above: python-dotenv reads it as empty
		elif ref=$(printenv -- "$name" && echo .); then
			# the environment's value, kept whole (the . guards a final newline)
			out+=${ref%$'\n.'}
		else
			out+=$default
		fi
	done
	REPLY=$out$text
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
