#!/usr/bin/env bash
# C unit tests of the gateway's pure parts.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
make -s -C "$PGAPP_ROOT/gateway" unit
