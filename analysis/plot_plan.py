#!/usr/bin/python3
"""Plot a chatdc plan: daily cost against latency for every fleet evaluated over a full day.

Usage: analysis/plot_plan.py PLAN.csv [--title T] [--out FILE.png]

Reads a plan.csv written by `chatdc plan` and writes FILE.png (default: plan.png beside the CSV). Each
full-day evaluation (phase `day`) is a point: TTFT p99 on the x axis, cost per day on the y axis, one
colour per candidate and placement; feasible fleets are filled, infeasible ones are crosses (those far
beyond the feasible latencies sit at the right edge, as triangles). The line is the cost-versus-latency
front of the feasible fleets (no other feasible fleet is both cheaper and faster); the star is the
chosen plan. Needs Debian's python3-pandas and python3-matplotlib.
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
    fig, ax = plt.subplots(figsize=(10, 6))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ok_all = day[day["feasible"] == 1]
    # Infeasible fleets can be thousands of times slower: keep the axis on the feasible ones.
    xmax = 3 * ok_all["ttft_p99_s"].max() if not ok_all.empty else day["ttft_p99_s"].max()
    several = day["candidate"].nunique() > 1
    groups = day.groupby(["candidate", "placement"], sort=False)
    for i, ((cand, place), g) in enumerate(groups):
        c = colours[i % len(colours)]
        label = f"{cand}, {place}" if several else place
        ok = g[g["feasible"] == 1]
        bad = g[g["feasible"] != 1]
        ax.scatter(ok["ttft_p99_s"], ok["cost_per_day"], color=c, label=label, zorder=3)
        near = bad[bad["ttft_p99_s"] <= xmax]
        far = bad[bad["ttft_p99_s"] > xmax]
        ax.scatter(near["ttft_p99_s"], near["cost_per_day"], color=c, marker="x", zorder=3)
        ax.scatter([xmax] * len(far), far["cost_per_day"], color=c, marker=">", zorder=3)
    if (day["feasible"] != 1).any():
        ax.scatter([], [], color="grey", marker="x", label="infeasible")
    if (day[day["feasible"] != 1]["ttft_p99_s"] > xmax).any():
        ax.scatter([], [], color="grey", marker=">", label=f"infeasible, TTFT p99 beyond {xmax:.3g} s")
    f = front(list(zip(ok_all["ttft_p99_s"], ok_all["cost_per_day"])))
    if len(f) > 1:
        ax.step([x for x, _ in f], [y for _, y in f], where="post", color="black", linewidth=1, alpha=0.6,
                label="cost-latency front (feasible)")
    chosen = day[day["chosen"] == 1]
    if not chosen.empty:
        ax.scatter(chosen["ttft_p99_s"], chosen["cost_per_day"], marker="*", s=320, facecolor="gold",
                   edgecolor="black", zorder=4, label="chosen plan")
    lo = day["ttft_p99_s"][day["ttft_p99_s"] > 0].min()
    ax.set_xlim(0.9 * lo, 1.05 * xmax)
    if xmax > 20 * lo:
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
