#!/usr/bin/python3
"""Plot one chatdc run over the simulated day: arrivals, load (GPUs busy, batch slots and KV cache used;
with prefix caching, the KV holding cached prefixes and the prompt tokens found cached), the work done
against the GPUs' peaks (compute: MFU; HBM bandwidth: MBU), queue and power per datacenter.

Usage: analysis/plot_timeline.py OUTDIR [--out FILE.png]

Reads OUTDIR/timeline.csv (written by `chatdc run`) and writes OUTDIR/timeline.png unless --out is given.
Needs Debian's python3-pandas and python3-matplotlib.
"""
import argparse
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

    has_work = "mfu" in tl and "mbu" in tl
    fig, axes = plt.subplots(5 if has_work else 4, 1, figsize=(10, 13.5 if has_work else 11), sharex=True)
    ax_queue, ax_power = axes[-2], axes[-1]
    for name, g in tl.groupby("datacenter", sort=False):
        period = g["time_s"].diff().median() if len(g) > 1 else 1.0
        axes[0].plot(g["hours"], g["arrivals"] / period, label=name)
        axes[1].plot(g["hours"], 100 * g["utilization"], label=f"{name} GPUs busy")
        if "batch_occupancy" in g:
            axes[1].plot(g["hours"], 100 * g["batch_occupancy"], linestyle="--", label=f"{name} batch slots used")
            axes[1].plot(g["hours"], 100 * g["kv_cache_used"], linestyle=":", label=f"{name} KV cache used")
        if "prefix_hit_rate" in g and g["prefix_hit_rate"].max() > 0:
            axes[1].plot(g["hours"], 100 * g["kv_cache_cached"], linestyle="-.", label=f"{name} KV cache holding cached prefixes")
            axes[1].plot(g["hours"], 100 * g["prefix_hit_rate"], linestyle=(0, (1, 3)), label=f"{name} prompt tokens found cached")
        if has_work:
            axes[2].plot(g["hours"], 100 * g["mbu"], label=f"{name} HBM bandwidth (MBU)")
            axes[2].plot(g["hours"], 100 * g["mfu"], linestyle="--", label=f"{name} compute (MFU)")
        ax_queue.plot(g["hours"], g["queued"], label=f"{name} queued")
        ax_queue.plot(g["hours"], g["running"], linestyle=":", label=f"{name} running")
        ax_power.plot(g["hours"], g["facility_power_kw"], label=f"{name} facility")
        ax_power.plot(g["hours"], g["it_power_kw"], linestyle=":", label=f"{name} IT")
    axes[0].set_ylabel("arrivals (req/s)")
    axes[1].set_ylabel("load (%)")
    axes[1].set_ylim(0, 105)
    if has_work:
        axes[2].set_ylabel("of the GPUs' peak (%)")
        axes[2].set_ylim(0, max(5.0, 105 * float(max(tl["mbu"].max(), tl["mfu"].max()))))
    ax_queue.set_ylabel("requests")
    ax_power.set_ylabel("power (kW)")
    ax_power.set_xlabel("simulated time (h, run clock)")
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
