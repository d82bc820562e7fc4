#!/usr/bin/env bash
# chatdc plan benchmark: plans scenarios/plan-east-west.yaml from scratch (--rerun: nothing reused) and
# prints the wall time, peak RSS, the number of full-day evaluations and screening runs, and how many
# full days a search that already knew every answer would need (each answer and its neighbour below,
# which is what verifying an answer takes). Then it plans again to show what resuming costs.
#   bench/plan_bench.sh [SCENARIO] [--jobs N]      (default: scenarios/plan-east-west.yaml, all cores)
# Target (issue 16): <= 10 minutes on 2 cores; full-day evaluations <= 3x those of the search that knew
# the answers. Timings on a shared 2-core machine are noisy (+-10-25%): repeat them.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CHATDC_BUILD_DIR:-build}
BIN="$BUILD/chatdc"
OUT=${BENCH_OUT:-results/bench}
SCENARIO=${1:-scenarios/plan-east-west.yaml}
shift || true
[ -x "$BIN" ] || { echo "build first: ./setup.sh build" >&2; exit 2; }
mkdir -p "$OUT"
name=$(basename "$SCENARIO" .yaml)
dir="$OUT/plan-$name"
echo "chatdc plan bench on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo "scenario $SCENARIO, outputs in $dir"

/usr/bin/time -f "%e %M" -o "$OUT/plan-$name.time" "$BIN" plan "$SCENARIO" --rerun --out "$dir" "$@" > "$OUT/plan-$name.log"
read -r wall rss_kb < "$OUT/plan-$name.time"
/usr/bin/time -f "%e" -o "$OUT/plan-$name.resume.time" "$BIN" plan "$SCENARIO" --out "$dir" "$@" > "$OUT/plan-$name.resume.log"
resume=$(cat "$OUT/plan-$name.resume.time")

/usr/bin/python3 - "$dir/plan.csv" "$OUT/plan-$name.log" "$wall" "$rss_kb" "$resume" <<'PYEOF'
import csv, re, sys
path, log, wall, rss, resume = sys.argv[1], open(sys.argv[2]).read(), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
rows = list(csv.DictReader(open(path)))
day = [r for r in rows if r["phase"] in ("day", "headroom-day")]
screen = [r for r in rows if r["phase"] in ("screen", "headroom-screen")]
m = re.search(r"a search that knew every answer: (\d+) full days", log)
knew = int(m.group(1)) if m else 0
def secs(rs): return sum(float(r["wall_s"] or 0) for r in rs)
print(log.strip())
print()
print(f"wall      {wall:8.1f} s for the whole plan ({wall/60:.1f} min; target <= 10 min on 2 cores), peak RSS {rss/1024:.0f} MiB")
print(f"full days {len(day):8d} evaluations ({secs(day):8.1f} run-seconds); a search that knew every answer: {knew} "
      f"(ratio {len(day)/max(knew,1):.2f}; target <= 3)")
print(f"screening {len(screen):8d} runs of the busiest window ({secs(screen):8.1f} run-seconds, "
      f"{secs(screen)/max(len(screen),1):.1f} s each against {secs(day)/max(len(day),1):.1f} s for a full day)")
print(f"resume    {resume:8.1f} s to plan again with every point done (validation, reading {len(rows)} points, the plot)")
PYEOF
