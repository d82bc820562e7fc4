#!/usr/bin/python3
"""Plot one chatdc run over the simulated day: arrivals, load (GPUs busy, batch slots and KV cache used;
with prefix caching, the KV holding cached prefixes and the prompt tokens found cached), the work done
against the GPUs' peaks (compute: MFU; HBM bandwidth: MBU), queue, power and latency (TTFT and TPOT p99
by hour sent, against the SLO) per datacenter, one colour per datacenter in every panel.

Usage: analysis/plot_timeline.py OUTDIR [--out FILE.png]

Reads OUTDIR/timeline.csv, hourly.csv and summary.json (written by `chatdc run`) and writes OUTDIR/timeline.png unless --out is given.
Needs Debian's python3-pandas and python3-matplotlib.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", help="a chatdc output folder (holds timeline.csv)")
    ap.add_argument("--out", help="PNG file to write (default: OUTDIR/timeline.png)")
    args = ap.parse_args(argv)

    path = os.path.join(args.outdir, "timeline.csv")
    if not os.path.isfile(path):
        sys.exit(f"plot_timeline: {path}: no such file (run `chatdc run SCENARIO --out {args.outdir}` first)")
    tl = pd.read_csv(path)
    if tl.empty:
        sys.exit(f"plot_timeline: {path}: no rows")
    tl["hours"] = tl["time_s"] / 3600.0

    hourly_path = os.path.join(args.outdir, "hourly.csv")
    hourly = pd.read_csv(hourly_path) if os.path.isfile(hourly_path) else None
    if hourly is not None and "user_region" in hourly:
        hourly = hourly[hourly["user_region"] == "all"]
    slo = {}
    summary_path = os.path.join(args.outdir, "summary.json")
    if os.path.isfile(summary_path):
        with open(summary_path) as f:
            slo = json.load(f).get("slo", {})

    has_work = "mfu" in tl and "mbu" in tl
    panels = 4 + has_work + (hourly is not None)
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.7 * panels), sharex=True)
    ax_queue, ax_power = axes[2 + has_work], axes[3 + has_work]
    ax_latency = axes[4 + has_work] if hourly is not None else None
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, g) in enumerate(tl.groupby("datacenter", sort=False)):
        c = colours[k % len(colours)]  # one colour per datacenter in every panel
        period = g["time_s"].diff().median() if len(g) > 1 else 1.0
        axes[0].plot(g["hours"], g["arrivals"] / period, color=c, label=name)
        axes[1].plot(g["hours"], 100 * g["utilization"], color=c, label=f"{name} GPUs busy")
        if "batch_occupancy" in g:
            axes[1].plot(g["hours"], 100 * g["batch_occupancy"], color=c, linestyle="--", label=f"{name} batch slots used")
            axes[1].plot(g["hours"], 100 * g["kv_cache_used"], color=c, linestyle=":", label=f"{name} KV cache used")
        if "prefix_hit_rate" in g and g["prefix_hit_rate"].max() > 0:
            axes[1].plot(g["hours"], 100 * g["kv_cache_cached"], color=c, linestyle="-.",
                         label=f"{name} KV cache holding cached prefixes")
            axes[1].plot(g["hours"], 100 * g["prefix_hit_rate"], color=c, linestyle=(0, (1, 3)),
                         label=f"{name} prompt tokens found cached")
        if has_work:
            axes[2].plot(g["hours"], 100 * g["mbu"], color=c, label=f"{name} HBM bandwidth (MBU)")
            axes[2].plot(g["hours"], 100 * g["mfu"], color=c, linestyle="--", label=f"{name} compute (MFU)")
        ax_queue.plot(g["hours"], g["queued"], color=c, label=f"{name} queued")
        ax_queue.plot(g["hours"], g["running"], color=c, linestyle=":", label=f"{name} running")
        ax_power.plot(g["hours"], g["facility_power_kw"], color=c, label=f"{name} facility")
        ax_power.plot(g["hours"], g["it_power_kw"], color=c, linestyle=":", label=f"{name} IT")
        if ax_latency is not None:
            h = hourly[hourly["datacenter"] == name]
            x = h["hour"] + 0.5  # the middle of the hour the requests were sent in
            ax_latency.plot(x, h["ttft_p99_s"], marker="o", markersize=3, color=c, label=f"{name} TTFT p99")
            ax_latency.plot(x, h["tpot_p99_s"], marker="o", markersize=3, color=c, linestyle=":", label=f"{name} TPOT p99")
    axes[0].set_ylabel("arrivals (req/s)")
    axes[1].set_ylabel("load (%)")
    axes[1].set_ylim(0, 105)
    if has_work:
        axes[2].set_ylabel("of the GPUs' peak (%)")
        axes[2].set_ylim(0, max(5.0, 105 * float(max(tl["mbu"].max(), tl["mfu"].max()))))
    ax_queue.set_ylabel("requests")
    ax_power.set_ylabel("power (kW)")
    if ax_latency is not None:
        if "ttft_target_s" in slo:
            ax_latency.axhline(slo["ttft_target_s"], color="black", linestyle="--", linewidth=1, label="TTFT SLO")
        if "tpot_target_s" in slo:
            ax_latency.axhline(slo["tpot_target_s"], color="black", linestyle="-.", linewidth=1, label="TPOT SLO")
        ax_latency.set_ylabel("latency (s, log)")
        ax_latency.set_yscale("log")
    axes[-1].set_xlabel("simulated time (h, run clock)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(f"chatdc run: {os.path.basename(os.path.normpath(args.outdir))}")
    fig.tight_layout()
    out = args.out or os.path.join(args.outdir, "timeline.png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
