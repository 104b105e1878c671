#!/usr/bin/env bash
# Installs the Debian packages pgapp needs to build, run, test and bench.
# Idempotent: installs only what is missing. As root it runs apt-get; as
# any other user it prints the one apt-get line that is needed and stops.
set -euo pipefail

packages=(
	build-essential pkg-config
	postgresql-15 postgresql-server-dev-15 postgresql-contrib
	libpq-dev libmicrohttpd-dev libssl-dev
	python3 python3-pytest python3-requests python3-jwt python3-jsonschema python3-yaml
	python3-email-validator
	clang llvm libclang-rt-14-dev clang-format clang-tools cppcheck
	curl wrk debootstrap docker-compose
	python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "pgapp needs these packages; run as root:" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
