#!/usr/bin/env bash
# pier's test command (what CI runs, through .ci/run):
#   1. install the build and test dependencies (scripts/install-deps.sh)
#   2. build a release tree and an ASan+UBSan tree
#   3. check the formatting of src/ and tests/unit/ with clang-format
#   4. run the cmocka unit tests in both trees
#   5. run the pytest system tests (as root) against the release tree
# and print one summary line last.  Exits non-zero when any step failed.
#
# Environment:
#   PIER_BUILD_DIR  release build directory   (default build-release)
#   PIER_ASAN_DIR   sanitizer build directory (default build-asan)
#   PIER_JOBS       ninja -j value            (default: ninja's own)
#   PYTEST_ARGS     extra pytest arguments, e.g. "-k lifecycle -x"
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
repo=$PWD
build=${PIER_BUILD_DIR:-build-release}
asan=${PIER_ASAN_DIR:-build-asan}
jobs=()
if [ -n "${PIER_JOBS:-}" ]; then
  jobs=(-j "$PIER_JOBS")
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0

say() { printf '\n==> %s\n' "$*"; }

# Configure dir with the given options (again, if it exists: the options
# must hold even in a tree made by hand), then build it.
build_tree() {
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir" "${jobs[@]}"
}

# Run the unit suite of a tree; record "<label> N ok" or the failure.
unit_tests() {
  local dir=$1 label=$2 log="$logs/unit-$2.log"
  local rc=0
  meson test -C "$dir" --suite unit --print-errorlogs 2>&1 | tee "$log" || rc=$?
  local ok fail cases
  ok=$(awk '/^Ok:/ {print $2}' "$log")
  fail=$(awk '/^Fail:|^Unexpected Pass:|^Timeout:/ {n += $NF} END {print n + 0}' "$log")
  # cmocka's own counts, from the outputs meson keeps.
  cases=$(awk '/^\[  PASSED  \] [0-9]+ test/ {p += $4} /failed as expected$/ {x++}
               END {printf "%d cases passed, %d known bugs xfail", p, x}' "$dir/meson-logs/testlog.txt")
  if [ "$rc" -eq 0 ]; then
    summary+=("unit ($label): ${ok:-0} programs ok, $cases")
  else
    summary+=("unit ($label): ${ok:-0} programs ok, ${fail} FAILED, $cases")
    failed=1
  fi
}

say "dependencies"
scripts/install-deps.sh

say "release build ($build)"
build_tree "$build" -Dbuildtype=release

say "ASan+UBSan build ($asan)"
build_tree "$asan" -Db_sanitize=address,undefined -Db_lundef=false

say "clang-format --dry-run --Werror (src, tests/unit)"
if find src tests/unit -name '*.[ch]' -print0 | sort -z | xargs -0 clang-format --dry-run --Werror; then
  summary+=("format: ok")
else
  summary+=("format: FAILED")
  failed=1
fi

say "unit tests (release)"
unit_tests "$build" release

say "unit tests (ASan+UBSan)"
unit_tests "$asan" asan

if compgen -G 'tests/system/test_*.py' >/dev/null; then
  say "system tests (PIER_BUILD=$repo/$build)"
  rc=0
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  PIER_BUILD="$repo/$build" /usr/bin/python3 -m pytest -v -p no:cacheprovider ${PYTEST_ARGS:-} tests/system 2>&1 |
    tee "$logs/system.log" || rc=$?
  # pytest's own last line: "===== 120 passed, 2 skipped in 95.1s ====="
  line=$(tail -n 1 "$logs/system.log" | sed -e 's/^=* *//' -e 's/ *=*$//')
  summary+=("system: ${line:-no output}")
  if [ "$rc" -ne 0 ]; then
    failed=1
  fi
  # The same system tests against the sanitizer build: memory errors and
  # undefined behaviour in the runtime's real paths (namespaces, mounts,
  # cgroups, exec) abort the run.  Leaks are not checked there (forked
  # children exit without freeing by design).
  say "system tests under ASan+UBSan (PIER_BUILD=$repo/$asan)"
  rc=0
  # shellcheck disable=SC2086
  PIER_BUILD="$repo/$asan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} tests/system 2>&1 |
    tee "$logs/system-asan.log" || rc=$?
  asan_line=$(tail -n 1 "$logs/system-asan.log" | sed -e 's/^=* *//' -e 's/ *=*$//')
  summary+=("system (asan): ${asan_line:-no output}")
  if [ "$rc" -ne 0 ]; then
    failed=1
  fi
else
  summary+=("system: no tests/system/test_*.py")
fi

printf '\n'
if [ "$failed" -eq 0 ]; then
  verdict=PASS
else
  verdict=FAIL
fi
line="pier test: $verdict"
for s in "${summary[@]}"; do
  line+=" | $s"
done
echo "$line"
# The runner's own summary line comes last.
if [ -f "$logs/system.log" ]; then
  tail -n 1 "$logs/system.log"
fi
exit "$failed"
