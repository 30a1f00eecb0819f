#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs clang-tidy (the checks in .clang-tidy at the root, every one an
# error) on each .c file of the product: proto/ config/ backend/ gateway/
# net/ bench/ (a folder that does not exist is skipped), with the flags the
# build used (its compile_commands.json), TIDY_JOBS files at a time
# (default 2). Fails on any finding, and on a file the build did not
# compile: without its flags clang-tidy would guess and check the wrong code.
# Usage: tests/check_tidy.sh [BUILD_DIR]   (default: build)
# CLANG_TIDY names the binary (default clang-tidy-14, else clang-tidy).
set -eu

# Physical paths (pwd -P): CMake writes them into compile_commands.json.
ROOT=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$ROOT"
BUILD=$(cd "${1:-build}" && pwd -P)
JOBS=${TIDY_JOBS:-2}
DIRS="proto config backend gateway net bench"

if [ -z "${CLANG_TIDY:-}" ]; then
	CLANG_TIDY=clang-tidy
	command -v clang-tidy-14 >/dev/null 2>&1 && CLANG_TIDY=clang-tidy-14
fi
if ! command -v "$CLANG_TIDY" >/dev/null 2>&1; then
	echo "check_tidy: $CLANG_TIDY not found (tests/install-deps.sh" \
	    "installs clang-tidy)" >&2
	exit 1
fi
# .clang-tidy names the checks of clang-tidy 14; a newer one adds checks to
# the groups it enables and may report more.
version=$("$CLANG_TIDY" --version | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p')
[ "$version" = 14 ] || echo "check_tidy: note: $CLANG_TIDY is version" \
    "${version:-unknown}, .clang-tidy is written for 14" >&2

db="$BUILD/compile_commands.json"
if [ ! -f "$db" ]; then
	echo "check_tidy: no $db (configure the build first)" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

for d in $DIRS; do
	[ -d "$d" ] && find "$d" -name '*.c' -type f
done | sort >"$work/files"
missing=0
while read -r f; do
	if ! grep -qF "\"file\": \"$ROOT/$f\"" "$db"; then
		echo "check_tidy: $f is not in $db" >&2
		missing=1
	fi
done <"$work/files"
[ "$missing" = 0 ] || exit 1

echo "clang-tidy: $(wc -l <"$work/files") files, $JOBS at a time"
# One log per file, so parallel runs do not mix their lines; xargs exits
# non-zero when any run did. -UNDEBUG: a release build's flags turn
# assert() off, and the analyzer is to see what the asserts state.
status=0
# shellcheck disable=SC2016 # the inner shell expands them
CLANG_TIDY=$CLANG_TIDY BUILD=$BUILD WORK=$work xargs -P "$JOBS" -n 1 \
    sh -c '"$CLANG_TIDY" -p "$BUILD" --quiet --extra-arg=-UNDEBUG "$1" \
	>"$WORK/$(echo "$1" | tr / _).log" 2>&1' sh <"$work/files" || status=$?

findings=0
for log in "$work"/*.log; do
	# clang's own "N warnings generated." counts what the header filter
	# hid (system headers); only the findings are worth a line.
	grep -v '^[0-9]* warnings\{0,1\} generated\.$' "$log" || true
	n=$(grep -c ': error: ' "$log" || true)
	findings=$((findings + n))
done
if [ "$status" != 0 ] || [ "$findings" != 0 ]; then
	echo "FAILED: clang-tidy: $findings findings (checks and reasons" \
	    "in .clang-tidy)" >&2
	exit 1
fi
echo "clang-tidy: no findings"
