#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the whole test suite: release build, clang-tidy with its flags
# (tests/check_tidy.sh), unit, fuzz-corpus and integration tests (private
# Dovecot on loopback, real POP3 clients), the same under ASan+UBSan, the
# integration files that run several workers under ThreadSanitizer, then a
# short libFuzzer run of every fuzz target; in between, the Debian package
# is built, installed and checked.
# Environment: FUZZ_SECONDS (default 30 per target), SKIP_ASAN=1, SKIP_TSAN=1,
# SKIP_FUZZ=1, SKIP_PACKAGE=1, POPGATE_NO_SKIP=0 (let a test skip instead of
# failing).
# First of all, tests/check_citations.sh: every cited note and section exists.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=$(nproc)

[ "${POPGATE_DEPS_INSTALLED:-}" = 1 ] || sh tests/install-deps.sh
# Everything a test needs is installed now, so a skipped test is a failure
# (tests/support/harness.py), not a quiet Passed.
POPGATE_NO_SKIP=${POPGATE_NO_SKIP:-1}
export POPGATE_NO_SKIP

section() { printf '\n==== %s ====\n' "$*"; }

section "citations"
sh tests/check_citations.sh
section "layers and sizes (DESIGN.md sec. 1)"
python3 tests/check_layers.py
python3 tests/design_tree.py --check
python3 tests/check_size.py

section "release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
section "clang-tidy"
# .clang-tidy's checks on the product's C, with the release build's flags.
sh tests/check_tidy.sh build
section "release tests"
(cd build && ctest --output-on-failure -j1)

if [ "${SKIP_PACKAGE:-0}" != 1 ]; then
	section "Debian package"
	sh tests/package.sh
fi

if [ "${SKIP_ASAN:-0}" != 1 ]; then
	section "ASan+UBSan build"
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPOPGATE_SANITIZE=ON >/dev/null
	cmake --build build-asan -j"$JOBS"
	section "ASan+UBSan tests"
	# Sanitized code runs 2-3 times slower: a longer watchdog per file
	# (still below the CTest TIMEOUT in tests/CMakeLists.txt).
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    POPGATE_TEST_TIME_LIMIT=${POPGATE_TEST_TIME_LIMIT:-600} \
	    ctest --output-on-failure -j1)
fi

if [ "${SKIP_TSAN:-0}" != 1 ]; then
	section "ThreadSanitizer build"
	# Worker threads share the lock, limit, metrics and token tables:
	# only the files that run several workers (or oauth2_probe's), and
	# only the two binaries they start.
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPOPGATE_SANITIZE=thread >/dev/null
	cmake --build build-tsan -j"$JOBS" --target popgate oauth2_probe
	section "ThreadSanitizer tests"
	# The suppressions file must hide the report it is there for, and
	# only with it: tests/tsan/fd_reuse.c makes that report on purpose.
	cc -fsanitize=thread -g -O1 -o build-tsan/fd_reuse tests/tsan/fd_reuse.c \
	    -lpthread
	n=$(TSAN_OPTIONS=exitcode=0 build-tsan/fd_reuse 2>&1 |
	    grep -c 'WARNING: ThreadSanitizer' || true)
	m=$(TSAN_OPTIONS="exitcode=0:suppressions=$ROOT/tests/tsan.supp" \
	    build-tsan/fd_reuse 2>&1 | grep -c 'WARNING: ThreadSanitizer' || true)
	if [ "$n" != 1 ] || [ "$m" != 0 ]; then
		echo "FAILED: tests/tsan.supp: fd_reuse gave $n report(s)" \
		    "without it and $m with it (want 1 and 0)"
		exit 1
	fi
	tsan_files='upstream|upstream_caps|reload|accounts|oauth2_tokens|memory'
	tsan_files="$tsan_files|metrics|auth"
	# tests/tsan.supp: descriptor-number reuse only, each line explained.
	(cd build-tsan && TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp" \
	    POPGATE_TEST_TIME_LIMIT=${POPGATE_TEST_TIME_LIMIT:-600} \
	    ctest --output-on-failure -j1 -R "^integration/test_($tsan_files)\$")
fi

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
	section "libFuzzer (${FUZZ_SECONDS}s per target)"
	CC=clang cmake -S . -B build-fuzz -DPOPGATE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
	# shellcheck disable=SC2086
	cmake --build build-fuzz -j"$JOBS" --target $targets
	for name in $targets; do
		bin="build-fuzz/tests/$name"
		work=$(mktemp -d)
		cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
		dict=""
		[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
		echo "fuzzing $name"
		# A crash, leak or oracle failure fails the run; its input is
		# kept in $work for a regression seed.
		# shellcheck disable=SC2086
		if ! "$bin" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
		    -rss_limit_mb=2048 -artifact_prefix="$work/" $dict "$work" \
		    >"$work.log" 2>&1; then
			tail -n 60 "$work.log"
			echo "FAILED: fuzz target $name (inputs in $work)"
			exit 1
		fi
		tail -n 3 "$work.log"
		rm -rf "$work" "$work.log"
	done
fi
section "all tests passed"
