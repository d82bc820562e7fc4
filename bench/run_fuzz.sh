#!/usr/bin/env bash
# chatdc fuzzing campaign: runs the libFuzzer harnesses (tests/fuzz) within a total wall-time budget on a
# given number of cores, and prints, per harness, its core-seconds, executions, executions per second (per
# core), coverage and findings (crash, timeout, out-of-memory or leak inputs written), then the totals.
#
#   bench/run_fuzz.sh [-t BUDGET] [-j CORES] [FUZZER...]
#     -t BUDGET  total wall time: seconds, or with a unit: 90m, 3h (default 600 s)
#     -j CORES   fuzzer processes at once (default 1: one core, e.g. in the background)
#     FUZZER     any of scenario trace_azure trace_mooncake trace_servegen trace_csv (default: all)
#   bench/run_fuzz.sh SECONDS [FUZZER...]   (the old form: SECONDS for each fuzzer, one at a time)
#
# The budget is shared out evenly: every fuzzer gets the same core time, and the slots are arranged in waves
# of CORES processes (when CORES does not divide the number of fuzzers, each fuzzer runs as several
# processes sharing its corpus, so no core idles). Example: 10^7 executions at the ~500 executions a second
# a core makes under ASan + UBSan take about 5.5 core-hours: `bench/run_fuzz.sh -t 3h -j 2`.
#
# Needs the sanitizer build (clang, ASan + UBSan + libFuzzer) that ./setup.sh test makes in build-asan
# (CHATDC_ASAN_BUILD_DIR to use another). Each fuzzer continues from its corpus in
# <build>/tests/fuzz/corpus/<name>, seeded like the short runs of the test suite. A finding is an input
# in <build>/tests/fuzz/findings/: reproduce it with <build>/tests/fuzz/fuzz_<name> FILE, then keep it in
# tests/fuzz/seeds/<name>/ and minimise it into a bad-input case (tests/bad_inputs/) once fixed.
# Exit status: 0 without findings, 1 with findings, 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CHATDC_ASAN_BUILD_DIR:-build-asan}
ALL=(scenario trace_azure trace_mooncake trace_servegen trace_csv)

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
seconds_of() {  # 600, 600s, 90m, 3h -> seconds
  case $1 in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

BUDGET=600
CORES=1
PER_FUZZER=""
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then  # old form: seconds for each fuzzer
  PER_FUZZER=$1
  shift
fi
while getopts "t:j:h" opt; do
  case $opt in
    t) [[ $OPTARG =~ ^[0-9]+[smh]?$ ]] || { echo "run_fuzz.sh: -t $OPTARG: expected seconds, or 90m, 3h" >&2; exit 2; }
       BUDGET=$(seconds_of "$OPTARG") ;;
    j) [[ $OPTARG =~ ^[1-9][0-9]*$ ]] || { echo "run_fuzz.sh: -j $OPTARG: expected a number of cores >= 1" >&2; exit 2; }
       CORES=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
FUZZERS=("$@")
[ ${#FUZZERS[@]} -eq 0 ] && FUZZERS=("${ALL[@]}")
for f in "${FUZZERS[@]}"; do
  [[ " ${ALL[*]} " == *" $f "* ]] || { echo "run_fuzz.sh: unknown fuzzer \"$f\" (expected: ${ALL[*]})" >&2; exit 2; }
done
[ "$BUDGET" -ge 1 ] || { echo "run_fuzz.sh: the budget must be at least 1 s" >&2; exit 2; }

DIR="$BUILD/tests/fuzz"
[ -x "$DIR/fuzz_scenario" ] || { echo "build the fuzzers first: ./setup.sh test (or cmake -DCHATDC_FUZZ=ON with clang)" >&2; exit 2; }
FINDINGS="$DIR/findings"
LOGS="$DIR/logs"
mkdir -p "$FINDINGS" "$LOGS"
rm -f "$LOGS"/*.log

n=${#FUZZERS[@]}
gcd() { local a=$1 b=$2; while [ "$b" -ne 0 ]; do local t=$((a % b)); a=$b; b=$t; done; echo "$a"; }
if [ -n "$PER_FUZZER" ]; then
  INSTANCES=1; CORES=1; SLOT_S=$PER_FUZZER
else
  INSTANCES=$(( CORES / $(gcd "$n" "$CORES") ))  # slots = n x INSTANCES, a multiple of CORES
  WAVES=$(( n * INSTANCES / CORES ))
  SLOT_S=$(( BUDGET / WAVES ))
  [ "$SLOT_S" -ge 1 ] || SLOT_S=1
fi

seeds() {  # the seed folders of a fuzzer (as in tests/fuzz/CMakeLists.txt)
  case $1 in
    scenario) echo "scenarios tests/fixtures tests/fuzz/seeds/scenario" ;;
    *) echo "workloads/traces tests/fuzz/seeds/$1" ;;
  esac
}

run_slot() {  # FUZZER INSTANCE: one fuzzer process for SLOT_S seconds
  local f=$1 k=$2 max_len=8192
  [ "$f" = scenario ] && max_len=16384
  mkdir -p "$DIR/corpus/$f"
  # shellcheck disable=SC2046
  timeout -k 10 $((SLOT_S + 300)) "$DIR/fuzz_$f" -max_total_time="$SLOT_S" -timeout=30 -rss_limit_mb=2048 -detect_leaks=0 \
    -max_len=$max_len -print_final_stats=1 -artifact_prefix="$FINDINGS/$f-" "$DIR/corpus/$f" $(seeds "$f") \
    > "$LOGS/$f.$k.log" 2>&1 || true
}
export -f run_slot seeds
export DIR FINDINGS LOGS SLOT_S

touch "$LOGS/.start"
echo "fuzzing: ${#FUZZERS[@]} fuzzers x $INSTANCES process(es) of $SLOT_S s, $CORES at once (budget $BUDGET s wall; each"
echo "process first replays its corpus, which the budget does not count)"
for k in $(seq 1 "$INSTANCES"); do for f in "${FUZZERS[@]}"; do echo "$f $k"; done; done |
  xargs -P "$CORES" -L 1 bash -c 'run_slot "$0" "$1"'

# Findings: crash, leak, timeout and out-of-memory inputs. Slow units (over 10 s, below the timeout) are
# listed apart: slow is not wrong, but worth a look.
new_files() { find "$FINDINGS" -type f -name "$1" -newer "$LOGS/.start" 2>/dev/null | wc -l; }
printf '%-16s %12s %14s %14s %8s %9s %6s\n' fuzzer core-seconds executions "execs/s/core" coverage findings slow
total=0
total_findings=0
for f in "${FUZZERS[@]}"; do
  execs=$(cat "$LOGS/$f".*.log | awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}')
  cov=$(cat "$LOGS/$f".*.log | grep -o 'cov: [0-9]*' | awk '{print $2}' | sort -n | tail -1)
  found=0
  for kind in crash leak timeout oom; do found=$((found + $(new_files "$f-$kind-*"))); done
  slow=$(new_files "$f-slow-unit-*")
  core_s=$((SLOT_S * INSTANCES))
  printf '%-16s %12s %14s %14s %8s %9s %6s\n' "$f" "$core_s" "$execs" \
    "$(awk -v e="$execs" -v s="$core_s" 'BEGIN {printf "%.0f", e / s}')" "${cov:-?}" "$found" "$slow"
  total=$((total + execs))
  total_findings=$((total_findings + found))
done
printf '%-16s %12s %14s %14s %8s %9s\n' total "$((SLOT_S * INSTANCES * ${#FUZZERS[@]}))" "$total" "" "" "$total_findings"
[ "$total_findings" -eq 0 ] || { echo "findings in $FINDINGS (logs: $LOGS/<fuzzer>.<process>.log)" >&2; exit 1; }
