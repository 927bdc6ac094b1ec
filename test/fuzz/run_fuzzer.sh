#!/usr/bin/env bash
# Runs one libFuzzer target for $FUZZ_SECONDS (default 15) and prints a
# one-line summary (inputs executed, coverage, features, corpus, crashes).
#
#   run_fuzzer.sh NAME BINARY BUILD_DIR DICT|- [SEED_DIR ...]
#
# New inputs go to BUILD_DIR/fuzz-corpus/NAME (the first corpus directory is
# the one libFuzzer writes to), crash reproducers to BUILD_DIR/fuzz-artifacts/,
# the full log to BUILD_DIR/fuzz-logs/NAME.log. The seed directories in the
# repository are only read. FUZZ_ARGS adds libFuzzer flags. Exit status is
# the fuzzer's: non-zero on a crash, a leak, a timeout or undefined behaviour.
set -u -o pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 NAME BINARY BUILD_DIR DICT|- [SEED_DIR ...]" >&2
  exit 2
fi
name=$1 binary=$2 build=$3 dict=$4
shift 4
seconds=${FUZZ_SECONDS:-15}
work=$build/fuzz-corpus/$name
mkdir -p "$work" "$build/fuzz-artifacts" "$build/fuzz-logs"
log=$build/fuzz-logs/$name.log
args=(-max_total_time="$seconds" -rss_limit_mb=4096 -timeout=25 -print_final_stats=1
      -artifact_prefix="$build/fuzz-artifacts/$name-")
if [ "$dict" != "-" ]; then args+=(-dict="$dict"); fi
# shellcheck disable=SC2206
args+=(${FUZZ_ARGS:-})
start=$(date +%s)
"$binary" "${args[@]}" "$work" "$@" >"$log" 2>&1
rc=$?
elapsed=$(( $(date +%s) - start ))
# The last status line ("#N DONE cov: C ft: F corp: U/S ...") and the final stats.
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
crashes=0
if [ $rc -ne 0 ]; then
  crashes=1
  tail -n 60 "$log"
fi
printf 'FUZZ %s: %ss, %s inputs, cov %s, ft %s, corpus %s, crashes %s (log %s)\n' \
  "$name" "$elapsed" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$log"
exit $rc
