#!/usr/bin/env bash
# chatdc benchmarks: wall time, peak RSS, simulated requests per wall-second and SimGrid activities of
# whole simulated days, beside the rate of a bare binary-heap event loop over the same events.
#   bench/run_bench.sh [quick|all|CASE...]     (default: quick = cases 3 and fidelity)
# Cases:
#   case1     ChatGPT-2023 scale: scenarios/chatgpt-2023-semianalysis.yaml (195 M requests, 3,624 HGX A100)
#   case1r    case1 with reactive autoscaling (target 64 requests outstanding per replica; issue 14 asks <= 2 min)
#   case2     2025 scale: scenarios/chatgpt-2025.yaml (2.5 B requests, 1,256 DGX H100)
#   case3     scenarios/quickstart.yaml (2 M requests, 16 DGX A100)
#   deepseek  DeepSeek's published day: scenarios/deepseek-2025-02-27.yaml (138.7 M requests offered, up to 278
#             H800 nodes, prefill/decode disaggregated under the published node schedule; issue 17 asks <= 5 min)
#   fidelity  day engine vs fine-grained engine, peak hour of scenarios/east-vs-west.yaml
# Runs one case at a time (timings on a shared 2-core machine are noisy: +-10-25%).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CHATDC_BUILD_DIR:-build}
BIN="$BUILD/chatdc"
OUT=${BENCH_OUT:-results/bench}
[ -x "$BIN" ] && [ -x "$BUILD/bench/heap_floor" ] || { echo "build first: ./setup.sh build" >&2; exit 2; }
mkdir -p "$OUT"
PY=/usr/bin/python3

field() { "$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'s': s}))" "$@"; }

run_case() {  # name scenario [--set ...]
  local name=$1 scenario=$2; shift 2
  local dir="$OUT/$name"
  /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$BIN" run "$scenario" --quiet --no-progress --out "$dir" "$@"
  read -r wall rss_kb < "$OUT/$name.time"
  local req events sources acts
  req=$(field "$dir/summary.json" "s['requests']['arrived']")
  events=$(field "$dir/summary.json" "s['engine']['events']")
  acts=$(field "$dir/summary.json" "s['engine']['simgrid_activities']")
  sources=$(field "$dir/summary.json" "s['fleet']['replicas'] + 2")
  local floor
  floor=$("$BUILD/bench/heap_floor" "$events" "$sources" | sed 's/.*: \([0-9.]*\) M events\/s.*/\1/')
  "$PY" - "$name" "$wall" "$rss_kb" "$req" "$events" "$acts" "$floor" <<'PYEOF'
import sys
name, wall, rss, req, ev, acts, floor = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
rate = ev / wall / 1e6
print(f"{name:9} wall {wall:8.1f} s  peak RSS {rss/1024/1024:5.2f} GiB  {req/1e6:9.2f} M requests  {req/wall/1e6:5.2f} M req/s  "
      f"{ev/1e6:8.1f} M events ({ev/max(req,1):.1f}/req) at {rate:5.2f} M/s = {rate/floor:4.2f} of the bare heap loop ({floor:.1f} M/s)  "
      f"SimGrid activities {acts:,.0f}")
PYEOF
}

fidelity() {
  local base=scenarios/east-vs-west.yaml sets=(--set run.duration_h=1 --set run.clock_utc_offset_h=-11)  # 19:00-20:00 local: the peak hour
  "$BIN" run "$base" --quiet --no-progress --out "$OUT/fid-day" "${sets[@]}"
  /usr/bin/time -f "%e" -o "$OUT/fid-fine.time" "$BIN" run "$base" --quiet --no-progress --out "$OUT/fid-fine" "${sets[@]}" --set run.engine=fine
  "$PY" - "$OUT/fid-day/summary.json" "$OUT/fid-fine/summary.json" "$(cat "$OUT/fid-fine.time")" <<'PYEOF'
import json, sys
d, f = (json.load(open(p)) for p in sys.argv[1:3])
worst = 0
rows = []
for m in ("ttft", "tpot", "e2e"):
    for q in ("p50", "p90", "p99"):
        a, b = d["latency_s"][m][q], f["latency_s"][m][q]
        rows.append((f"{m} {q}", a, b))
for k in (("utilization", "gpu_mean"), ("energy_kwh", "it"), ("energy_kwh", "facility")):
    rows.append((".".join(k), d[k[0]][k[1]], f[k[0]][k[1]]))
print(f"fidelity  peak hour of east-vs-west: {d['requests']['arrived']:,} requests; day engine {d['wall_s']:.1f} s, "
      f"fine engine {float(sys.argv[3]):.1f} s ({f['engine']['simgrid_activities']:,} SimGrid activities)")
for name, a, b in rows:
    err = abs(b - a) / max(abs(a), 1e-12)
    worst = max(worst, err)
    print(f"          {name:22} day {a:12.6g}  fine {b:12.6g}  difference {100*err:6.3f}%")
print(f"          largest difference {100*worst:.3f}% (target: within 2%)")
PYEOF
}

cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(quick)
[ "${cases[0]}" = quick ] && cases=(case3 fidelity)
[ "${cases[0]}" = all ] && cases=(case3 fidelity case1 case1r case2 deepseek)
echo "chatdc bench on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
for c in "${cases[@]}"; do
  case "$c" in
    case1) run_case case1 scenarios/chatgpt-2023-semianalysis.yaml ;;
    case1r) run_case case1r scenarios/chatgpt-2023-semianalysis.yaml --set operations.autoscaling.policy=reactive \
              --set operations.autoscaling.target_load_per_replica=64 ;;
    case2) run_case case2 scenarios/chatgpt-2025.yaml ;;
    case3) run_case case3 scenarios/quickstart.yaml ;;
    deepseek) run_case deepseek scenarios/deepseek-2025-02-27.yaml ;;
    fidelity) fidelity ;;
    *) echo "unknown case $c (case1 case1r case2 case3 deepseek fidelity quick all)" >&2; exit 2 ;;
  esac
done
