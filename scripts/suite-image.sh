#!/usr/bin/env bash
# The shipped gateway images, without Docker: Dockerfile.gateway's runtime
# and dev targets replayed stage by stage in Debian chroots
# (scripts/image-build.py), then tests/image against those root file
# systems and the cluster of test.sh.  Root only; the Debian release comes
# from the Dockerfile.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
tmp=$1
cd "$PGAPP_ROOT" || exit 1
images=$PGAPP_ROOT/.pgapp/image
if [ "$(id -u)" -ne 0 ]; then
	echo "image: needs root (debootstrap, chroot, mount); not run"
	echo "0 passed, 1 failed"
	exit 1
fi
# one image build at a time in a checkout (two test runs side by side)
mkdir -p "$images"
exec 9>"$images.lock"
flock 9
# nothing started in an image root outlives the suite, nothing stays
# mounted, and the built stages (about 1.5 GB) go unless KEEP=1; the
# Debian base stays cached
cleanup() {
	"$PGAPP_ROOT/scripts/pgchroot.sh" sweep "$images"
	[ "${KEEP:-0}" = 1 ] || rm -rf "$images/gateway" "$images/gateway-dev"
}
trap cleanup EXIT
build() {
	say "image: Dockerfile.gateway, target $1"
	if ! /usr/bin/python3 scripts/image-build.py Dockerfile.gateway "$1" "$2" \
		>"$tmp/image-build-$1.log" 2>&1; then
		tail -30 "$tmp/image-build-$1.log"
		echo "0 passed, 1 failed"
		exit 1
	fi
}
build runtime "$images/gateway"
build dev "$images/gateway-dev"
# shellcheck disable=SC2086 # PYTEST_ARGS: one word, e.g. -kname
PGAPP_IMAGE_DIR=$images/gateway PGAPP_DEV_IMAGE_DIR=$images/gateway-dev \
	run_pytest "$tmp/pytest-image.xml" tests/image ${PYTEST_ARGS:-}
