#!/usr/bin/python3
"""Builds platforms/calibration/pack-subset.csv: the rows of the calibration pack that are in scope of
the single-replica model, with only the columns chatdc reads (README "Calibration").

    build/chatdc calibrate --file PACK/modern-engines.csv --json > /tmp/scope.json
    /usr/bin/python3 analysis/make_pack_subset.py PACK/modern-engines.csv /tmp/scope.json platforms/calibration/pack-subset.csv

The in-scope configurations are the ones `chatdc calibrate` lists (it applies the scope rules and
drops duplicates); their TTFT, TPOT and per-replica output throughput rows are copied unchanged,
and `notes` is cut to the source tag (which tells the benchmark client apart). Needs pandas.
"""
import json
import sys

import pandas as pd

COLUMNS = ["source_id", "config_id", "engine", "engine_version", "gpu", "gpus_per_replica", "tp", "pp", "ep",
           "dp_attention", "serving_mode", "model", "model_arch", "weight_dtype", "kv_dtype", "input_tokens",
           "output_tokens", "load_type", "concurrency_or_rate", "max_batch", "spec_decoding", "metric", "statistic",
           "value", "notes"]
METRICS = ["ttft_ms", "tpot_ms", "output_tok_s_per_replica"]


def main(pack, scope_json, out):
    scope = json.load(open(scope_json))
    ids = set()
    for p in scope.get("packs", []):
        ids.update(c["config_id"] for c in p.get("configurations", []))
    d = pd.read_csv(pack, dtype=str, keep_default_na=False)
    d = d[d.config_id.isin(ids) & d.metric.isin(METRICS)][COLUMNS].copy()
    d["notes"] = d.notes.str.extract(r"^(AIC silicon tag '[^']*')", expand=False).fillna("")
    with open(out, "w") as f:
        f.write("# In-scope subset of the chatdc calibration pack (modern-engines.csv); see platforms/calibration/README.md\n")
        d.to_csv(f, index=False)
    print(f"{out}: {len(d)} rows, {d.config_id.nunique()} configurations")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
