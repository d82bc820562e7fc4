#!/usr/bin/env bash
# A sharded day against one process: runs SCENARIO in one process, then as N shards through Slurm
# (`chatdc run --shards N --executor slurm`, merged), checks that the outputs are equal byte for byte
# apart from wall times, and prints each shard's wall time and the merge time.
#   bench/shard_bench.sh [SCENARIO [N [--set k=v ...]]]    (default: scenarios/chatgpt-2025.yaml, 2 shards)
# Uses the cluster SLURM_CONF names; without one, starts tests/slurm/cluster.sh (root) and stops it at the end.
# Timings on a shared 2-core machine are noisy; the shards share the machine's cores with each other.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${CHATDC_BUILD_DIR:-build}
BIN="$BUILD/chatdc"
OUT=${BENCH_OUT:-results/bench}
SCEN=${1:-scenarios/chatgpt-2025.yaml}
N=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
[ -x "$BIN" ] || { echo "build first: ./setup.sh build" >&2; exit 2; }
if [ -z "${SLURM_CONF:-}" ] || ! scontrol ping >/dev/null 2>&1; then
  export CHATDC_SLURM_DIR=/tmp/chatdc-slurm-bench CHATDC_SLURM_PORT=${CHATDC_SLURM_PORT:-16817}
  export SLURM_CONF=$CHATDC_SLURM_DIR/slurm.conf
  tests/slurm/cluster.sh start
  trap 'tests/slurm/cluster.sh stop' EXIT
fi
mkdir -p "$OUT"
one="$OUT/shard-one" sharded="$OUT/shard-$N"
rm -rf "$one" "$sharded"
/usr/bin/time -f "%e" -o "$OUT/shard-one.time" "$BIN" run "$SCEN" --quiet --no-progress --out "$one" "$@"
echo "one process: $(cat "$OUT/shard-one.time") s wall"
"$BIN" run "$SCEN" --shards "$N" --executor slurm --out "$sharded" "$@" | grep -E '^chatdc (run|merge):'
same=yes
for f in timeline.csv hourly.csv scenario.resolved.yaml; do
  cmp -s "$one/$f" "$sharded/$f" || { echo "DIFFERENT: $f"; same=no; }
done
/usr/bin/python3 - "$one/summary.json" "$sharded/summary.json" <<'PY' || same=no
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a.pop("wall_s"); b.pop("wall_s")
if a != b:
    print("DIFFERENT: summary.json"); sys.exit(1)
PY
echo "merged $N shards equal one process (apart from wall times): $same"
