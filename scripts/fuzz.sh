#!/bin/sh
# fuzz.sh - build pier's libFuzzer targets with clang (ASan + UBSan) in
# build-fuzz/ and run each for N seconds (default 60), one process each,
# one after another.  Seeds come from fuzz/corpus/<target>/; what the
# fuzzer finds grows build-fuzz/corpus/<target>/, and crashes land in
# build-fuzz/crashes/<target>/.  Add a crashing input to fuzz/corpus/ with
# its fix so that the unit suite (fuzz-<target> replay tests) keeps it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"dockerfile expand ignore reference manifest extract template"}
dir=${PIER_FUZZ_DIR:-build-fuzz}
if [ ! -d "$dir" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dbuildtype=debug -Db_sanitize=address,undefined \
    -Db_lundef=false -Dstatic_runtime=false
fi
for t in $targets; do
  ninja -C "$dir" -j"${PIER_JOBS:-1}" "fuzz/fuzz-$t"
done
rc=0
for t in $targets; do
  mkdir -p "$dir/corpus/$t" "$dir/crashes/$t"
  echo "== fuzz-$t for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$dir/crashes/$t/" -print_final_stats=1 \
    "$dir/corpus/$t" "fuzz/corpus/$t" || { rc=1; echo "fuzz-$t: FOUND A CRASH (see $dir/crashes/$t/)"; }
done
exit $rc
