#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what is missing, builds popgate, then runs the demo: a private
# Dovecot with sample mail on loopback, popgate in front of it, and a POP3
# session printed line by line. Extra arguments go to tests/demo.py.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
sh tests/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target popgate >/dev/null
exec python3 tests/demo.py --popgate build/popgate "$@"
