#!/usr/bin/python3
"""Plot a chatdc comparison: cost, energy, carbon, latency, SLO attainment and utilization per run.

Usage: analysis/plot_compare.py DIR [--out FILE.png]
       analysis/plot_compare.py TABLE.csv --dir DIR [--out FILE.png]

Reads DIR/comparison.csv (written by `chatdc compare`), or another copy of that table with --dir naming
the comparison's folder, and writes DIR/comparison.png unless --out is given. Costs are shown per simulated day when each run's
DIR/<label>/summary.json gives its simulated duration, else over the whole run. Runs that are not
feasible (column `feasible` = 0: they miss the SLO target, drop requests or build a backlog) are
labelled in red with "(infeasible)". Needs Debian's python3-pandas and python3-matplotlib.
"""
import argparse
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

COST_PARTS = [  # (column, legend)
    ("cost_electricity", "electricity"),
    ("cost_demand_charge", "demand charge"),
    ("cost_capex", "capex"),
    ("cost_maintenance", "maintenance"),
    ("cost_wan", "WAN"),
    ("cost_carbon", "carbon price"),
]
LATENCY = [  # (column, legend)
    ("ttft_p50_s", "TTFT p50"),
    ("ttft_p90_s", "TTFT p90"),
    ("ttft_p99_s", "TTFT p99"),
    ("tpot_p50_s", "TPOT p50"),
    ("tpot_p99_s", "TPOT p99"),
]


def run_folder(label):
    """The run's subfolder, named as `chatdc compare` names it."""
    f = re.sub(r"[^A-Za-z0-9._+-]", "_", str(label))
    return "run" if f in ("", ".", "..") else f


def simulated_days(outdir, labels):
    """Each run's simulated duration in days, or None if any summary.json is missing."""
    days = []
    for label in labels:
        try:
            with open(os.path.join(outdir, run_folder(label), "summary.json")) as f:
                s = json.load(f)["simulated_s"]
        except (OSError, ValueError, KeyError):
            return None
        if not s or s <= 0:
            return None
        days.append(s / 86400.0)
    return days


def grouped_bars(ax, x, series, width_total=0.8):
    """Bars of several series side by side at each x position; series: [(values, legend)]."""
    n = len(series)
    w = width_total / max(n, 1)
    for i, (values, legend) in enumerate(series):
        ax.bar([xi - width_total / 2 + w * (i + 0.5) for xi in x], values, w, label=legend)


def legend_above(ax, handles, labels):
    """One row of legend entries between the panel and its title, clear of the bars."""
    ax.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(labels), 3),
              fontsize="small", frameon=False)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a chatdc compare output folder (holds comparison.csv), or a table with --dir")
    ap.add_argument("--dir", dest="folder", help="the comparison's folder when the first argument is a table")
    ap.add_argument("--out", help="PNG file to write (default: DIR/comparison.png)")
    args = ap.parse_args(argv)

    if args.folder:
        path, args.dir = args.dir, args.folder
    else:
        path = os.path.join(args.dir, "comparison.csv")
    if not os.path.isfile(path):
        sys.exit(f"plot_compare: {path}: no such file (run `chatdc compare ... --out {args.dir}` first)")
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if df.empty:
        sys.exit(f"plot_compare: {path}: no rows")
    labels = [str(v) for v in df["label"]]
    feasible = [bool(v) for v in df["feasible"]] if "feasible" in df else [True] * len(labels)
    x = list(range(len(labels)))
    currency = str(df["currency"].iloc[0])

    fig, axes = plt.subplots(2, 2, figsize=(max(11.0, 5.0 + 1.4 * len(labels)), 9.5))
    (ax_cost, ax_energy), (ax_lat, ax_share) = axes

    # Cost by component, stacked.
    days = ([s / 86400.0 for s in df["simulated_s"]] if "simulated_s" in df and (df["simulated_s"] > 0).all()
            else simulated_days(args.dir, labels))
    scale = [1.0 / d for d in days] if days else [1.0] * len(labels)
    bottom = [0.0] * len(labels)
    for col, legend in COST_PARTS:
        if col not in df:
            continue
        values = [float(v) * s for v, s in zip(df[col].fillna(0.0), scale)]
        if not any(values):
            continue
        ax_cost.bar(x, values, 0.6, bottom=bottom, label=legend)
        bottom = [b + v for b, v in zip(bottom, values)]
    for xi, total in zip(x, bottom):
        ax_cost.annotate(f"{total:,.0f}" if total >= 100 else f"{total:.3g}", (xi, total), ha="center", va="bottom",
                         fontsize="small")
    ax_cost.set_ylabel(f"cost ({currency} per simulated day)" if days else f"cost over the run ({currency})")
    ax_cost.set_title("cost by component", pad=40)
    ax_cost.margins(y=0.12)

    # Facility energy (left axis) and carbon (right axis).
    w = 0.38
    ax_energy.bar([xi - w / 2 for xi in x], df["facility_energy_kwh"], w, color="tab:orange", label="facility energy")
    ax_energy.set_ylabel("facility energy (kWh over the run)")
    ax_carbon = ax_energy.twinx()
    ax_carbon.bar([xi + w / 2 for xi in x], df["carbon_kg"], w, color="tab:gray", label="carbon")
    ax_carbon.set_ylabel("carbon (kg CO₂ over the run)")
    h1, l1 = ax_energy.get_legend_handles_labels()
    h2, l2 = ax_carbon.get_legend_handles_labels()
    legend_above(ax_energy, h1 + h2, l1 + l2)
    ax_energy.set_title("energy and carbon", pad=40)

    # Latency percentiles.
    series = [(df[c].fillna(0.0).tolist(), legend) for c, legend in LATENCY if c in df]
    grouped_bars(ax_lat, x, series)
    positive = [v for values, _ in series for v in values if v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency (s)")
    ax_lat.set_title("latency percentiles (completed requests)", pad=40)

    # SLO attainment and GPU utilization, in percent.
    grouped_bars(ax_share, x, [
        ([100 * v for v in df["slo_attainment"].fillna(0.0)], "SLO attainment"),
        ([100 * v for v in df["gpu_utilization_mean"].fillna(0.0)], "GPU utilization, mean"),
        ([100 * v for v in df["gpu_utilization_peak"].fillna(0.0)], "GPU utilization, peak"),
    ] + [([100 * v for v in df[c].fillna(0.0)], legend)
         for c, legend in (("batch_occupancy_mean", "batch slots used, mean"), ("kv_cache_mean", "KV cache used, mean"),
                           ("mfu_mean", "compute (MFU), mean"), ("mbu_mean", "HBM bandwidth (MBU), mean"))
         if c in df])
    ax_share.set_ylim(0, 105)
    ax_share.set_ylabel("share (%)")
    ax_share.set_title("SLO attainment and load", pad=40)

    rotate = len(labels) > 4 or max(len(s) for s in labels) > 12
    for ax in (ax_cost, ax_energy, ax_lat, ax_share):
        ax.set_xticks(x)
        ax.set_xticklabels([lb if ok else f"{lb}\n(infeasible)" for lb, ok in zip(labels, feasible)],
                           rotation=30 if rotate else 0, ha="right" if rotate else "center")
        for tick, ok in zip(ax.get_xticklabels(), feasible):
            if not ok:
                tick.set_color("tab:red")
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if ax is not ax_energy:
            legend_above(ax, *ax.get_legend_handles_labels())
    fig.suptitle(f"chatdc compare: {os.path.basename(os.path.normpath(args.dir))}")
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "comparison.png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
