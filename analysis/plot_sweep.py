#!/usr/bin/python3
"""Plot a chatdc sweep: one figure against one varied key, a line per combination of the other keys.

Usage: analysis/plot_sweep.py SWEEP.csv --x KEY --y FIGURE [--key KEY SHORT ...] [--title T] [--out FILE.png]

Reads a sweep.csv written by `chatdc sweep` and writes FILE.png (default: sweep.png beside the CSV).
Feasible points are filled markers; infeasible points (column `feasible` = 0: they miss the SLO target,
drop requests or build a backlog) are red crosses, and the lines join feasible points only. The x axis
is numeric when every value of KEY is a number, else one tick per value. Needs Debian's
python3-pandas and python3-matplotlib.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def numeric(values):
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", help="sweep.csv")
    ap.add_argument("--x", required=True, help="the varied key on the x axis (a column of the CSV)")
    ap.add_argument("--y", required=True, help="the figure on the y axis (a column of the CSV)")
    ap.add_argument("--key", nargs=2, action="append", default=[], metavar=("KEY", "SHORT"),
                    help="a varied key and its short name for legends (repeatable; default: every column before "
                         "slo_target except label and folder)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--out", help="PNG file to write")
    args = ap.parse_args(argv)

    df = pd.read_csv(args.csv, keep_default_na=False, na_values=[""], dtype=str)
    if df.empty:
        sys.exit(f"plot_sweep: {args.csv}: no rows")
    for col in (args.x, args.y):
        if col not in df:
            sys.exit(f"plot_sweep: {args.csv}: no column {col}")
    keys = args.key or [(c, c) for c in df.columns[2:list(df.columns).index("slo_target")]]
    short = dict(keys)
    others = [k for k, _ in keys if k != args.x and k in df]
    y = pd.to_numeric(df[args.y], errors="coerce")
    feasible = df["feasible"].astype(str) == "1" if "feasible" in df else pd.Series([True] * len(df))

    xs = numeric(df[args.x])
    ticks = None
    if xs is None:  # categorical: one tick per value, in order of appearance
        ticks = list(dict.fromkeys(df[args.x]))
        xs = [ticks.index(v) for v in df[args.x]]
    df = df.assign(_x=xs, _y=y, _ok=feasible.values)

    fig, ax = plt.subplots(figsize=(9, 5.5))
    groups = df.groupby(others, sort=False) if others else [((), df)]
    for name, g in groups:
        name = name if isinstance(name, tuple) else (name,)
        label = ", ".join(f"{short.get(k, k)}={v}" for k, v in zip(others, name)) or None
        g = g.sort_values("_x")
        ok = g[g["_ok"]]
        line = ax.plot(ok["_x"], ok["_y"], marker="o", label=label)[0]
        bad = g[~g["_ok"]]
        if not bad.empty:
            ax.plot(bad["_x"], bad["_y"], linestyle="none", marker="x", markersize=9, color="tab:red",
                    markeredgewidth=2)
            ax.plot(bad["_x"], bad["_y"], linestyle="none", marker="o", markersize=4, color=line.get_color())
    if (~df["_ok"]).any():
        ax.plot([], [], linestyle="none", marker="x", color="tab:red", markeredgewidth=2, label="infeasible")
    if ticks is not None:
        ax.set_xticks(range(len(ticks)))
        ax.set_xticklabels(ticks, rotation=30 if max(len(t) for t in ticks) > 8 else 0)
    ax.set_xlabel(short.get(args.x, args.x))
    ax.set_ylabel(args.y)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    ax.set_title(args.title or f"chatdc sweep: {args.y} against {short.get(args.x, args.x)}")
    fig.tight_layout()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.csv)), "sweep.png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
