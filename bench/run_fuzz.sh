#!/usr/bin/env bash
# chatdc fuzzing: runs every libFuzzer harness (tests/fuzz) for SECONDS each and prints its executions,
# executions per second, coverage and findings (crash, timeout, out-of-memory or leak inputs written).
#   bench/run_fuzz.sh [SECONDS] [FUZZER...]      (default: 600 s each, all fuzzers)
# Needs the sanitizer build (clang, ASan + UBSan + libFuzzer) that ./setup.sh test makes in build-asan
# (CHATDC_ASAN_BUILD_DIR to use another). Each fuzzer continues from its corpus in
# <build>/tests/fuzz/corpus/<name>, seeded like the short runs of the test suite. A finding is an input
# in <build>/tests/fuzz/findings/: reproduce it with <build>/tests/fuzz/fuzz_<name> FILE, then minimise
# it into a bad-input case (tests/bad_inputs/) once fixed. One fuzzer at a time, on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CHATDC_ASAN_BUILD_DIR:-build-asan}
SECONDS_EACH=${1:-600}
shift || true
FUZZERS=("$@")
[ ${#FUZZERS[@]} -eq 0 ] && FUZZERS=(scenario trace_azure trace_mooncake trace_servegen trace_csv)
DIR="$BUILD/tests/fuzz"
[ -x "$DIR/fuzz_scenario" ] || { echo "build the fuzzers first: ./setup.sh test (or cmake -DCHATDC_FUZZ=ON with clang)" >&2; exit 2; }
FINDINGS="$DIR/findings"
mkdir -p "$FINDINGS"

seeds() {  # the seed folders of a fuzzer (as in tests/fuzz/CMakeLists.txt)
  case $1 in
    scenario) echo "scenarios tests/fixtures tests/fuzz/seeds/scenario" ;;
    *) echo "workloads/traces tests/fuzz/seeds/$1" ;;
  esac
}

printf '%-16s %8s %14s %12s %8s %9s\n' fuzzer seconds executions "execs/s" coverage findings
total=0
total_findings=0
for f in "${FUZZERS[@]}"; do
  mkdir -p "$DIR/corpus/$f"
  before=$(find "$FINDINGS" -type f | wc -l)
  max_len=8192
  [ "$f" = scenario ] && max_len=16384
  # shellcheck disable=SC2046
  "$DIR/fuzz_$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -max_len=$max_len \
    -print_final_stats=1 -artifact_prefix="$FINDINGS/$f-" "$DIR/corpus/$f" $(seeds "$f") > "$DIR/$f.log" 2>&1 || true
  execs=$(awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}' "$DIR/$f.log")
  cov=$(grep -o 'cov: [0-9]*' "$DIR/$f.log" | tail -1 | awk '{print $2}')
  found=$(( $(find "$FINDINGS" -type f | wc -l) - before ))
  printf '%-16s %8s %14s %12s %8s %9s\n' "$f" "$SECONDS_EACH" "$execs" "$(awk -v e="$execs" -v s="$SECONDS_EACH" 'BEGIN {printf "%.0f", e / s}')" \
    "${cov:-?}" "$found"
  total=$((total + execs))
  total_findings=$((total_findings + found))
done
printf '%-16s %8s %14s %12s %8s %9s\n' total "" "$total" "" "" "$total_findings"
[ "$total_findings" -eq 0 ] || { echo "findings in $FINDINGS (logs: $DIR/<fuzzer>.log)" >&2; exit 1; }
