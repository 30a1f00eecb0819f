#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/soak.sh DURATION [OPTIONS]: popgate under mixed POP3 load for
# DURATION seconds, with reloads and upstream restarts; reports RSS, file
# descriptors and every message lost or retrieved twice (which must be 0).
# Not run in CI.  Options go to tests/support/soak.py (--help); the binary
# is --popgate PATH or $POPGATE_BINARY (default /tmp/build-main/popgate).
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 DURATION_SECONDS [--popgate PATH] [soak.py options]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
duration=$1
shift
PYTHONPATH="$here/support${PYTHONPATH:+:$PYTHONPATH}" \
	exec python3 "$here/support/soak.py" --duration "$duration" "$@"
