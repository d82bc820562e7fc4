#!/usr/bin/python3
"""Plot a chatdc plan: daily cost against latency for every fleet evaluated over a full day.

Usage: analysis/plot_plan.py PLAN.csv [--title T] [--out FILE.png]

Reads a plan.csv written by `chatdc plan` and writes FILE.png (default: plan.png beside the CSV). Each
full-day evaluation (phase `day`) is a point: TTFT p99 on the x axis, cost per day on the y axis, one
colour per candidate; feasible fleets are filled, infeasible ones are crosses. The line is the
cost-versus-latency front of the feasible fleets (no other feasible fleet is both cheaper and faster);
the star is the chosen plan. Needs Debian's python3-pandas and python3-matplotlib.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def front(points):
    """The cost-versus-latency front: points not beaten on both axes, by increasing latency."""
    out, best = [], float("inf")
    for x, y in sorted(points):
        if y < best:
            out.append((x, y))
            best = y
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="plan.csv")
    ap.add_argument("--title", default="chatdc plan")
    ap.add_argument("--out", help="PNG file to write")
    args = ap.parse_args(argv)

    df = pd.read_csv(args.csv, keep_default_na=False, na_values=[""])
    day = df[df["phase"] == "day"].copy()
    if day.empty:
        sys.exit(f"plot_plan: {args.csv}: no full-day evaluation")
    day["cost_per_day"] = day["cost_total"] * 86400.0 / day["simulated_s"]
    currency = str(day["currency"].iloc[0])
    fig, ax = plt.subplots(figsize=(9, 5.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (cand, g) in enumerate(day.groupby("candidate", sort=False)):
        c = colours[i % len(colours)]
        ok = g[g["feasible"] == 1]
        bad = g[g["feasible"] != 1]
        ax.scatter(ok["ttft_p99_s"], ok["cost_per_day"], color=c, label=f"{cand} (feasible)", zorder=3)
        if not bad.empty:
            ax.scatter(bad["ttft_p99_s"], bad["cost_per_day"], color=c, marker="x", label=f"{cand} (infeasible)", zorder=3)
    ok = day[day["feasible"] == 1]
    f = front(list(zip(ok["ttft_p99_s"], ok["cost_per_day"])))
    if len(f) > 1:
        ax.step([x for x, _ in f], [y for _, y in f], where="post", color="black", linewidth=1, alpha=0.6,
                label="cost-latency front (feasible)")
    chosen = day[day["chosen"] == 1]
    if not chosen.empty:
        ax.scatter(chosen["ttft_p99_s"], chosen["cost_per_day"], marker="*", s=320, facecolor="gold",
                   edgecolor="black", zorder=4, label="chosen plan")
    if day["ttft_p99_s"].max() > 20 * max(day["ttft_p99_s"].min(), 1e-9):
        ax.set_xscale("log")
    ax.set_xlabel("TTFT p99 (s, over the day)")
    ax.set_ylabel(f"cost per day ({currency})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(args.title)
    fig.tight_layout()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.csv)), "plan.png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
