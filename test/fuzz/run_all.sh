#!/usr/bin/env bash
# Runs every fuzzer of a fuzz build tree (listed in BUILD_DIR/fuzzers.list by
# lballoc_fuzzer()) for $FUZZ_SECONDS each, $FUZZ_PARALLEL at a time (default
# 1), and prints one summary line per target (see run_fuzzer.sh).
#
#   FUZZ_SECONDS=3600 FUZZ_PARALLEL=2 test/fuzz/run_all.sh build-fuzz [NAME ...]
#
# With NAMEs, only those targets run. Exit status is non-zero if any failed.
set -u -o pipefail
build=${1:?usage: $0 BUILD_DIR [NAME ...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
list=$build/fuzzers.list
if [ ! -s "$list" ]; then
  echo "$list is missing or empty: configure $build with -DLBALLOC_FUZZ=ON" >&2
  exit 2
fi
parallel=${FUZZ_PARALLEL:-1}
failed=0
wait_one() {
  if ! wait -n; then failed=1; fi
}
running=0
while read -r name binary dict seeds; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  # shellcheck disable=SC2086
  "$here/run_fuzzer.sh" "$name" "$binary" "$build" "$dict" $seeds &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait_one
    running=$((running - 1))
  fi
done <"$list"
while [ "$running" -gt 0 ]; do
  wait_one
  running=$((running - 1))
done
exit $failed
