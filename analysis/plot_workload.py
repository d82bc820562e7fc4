#!/usr/bin/python3
"""Bar chart of requests per time bucket, as written by `chatdc workload --png`.

Usage: analysis/plot_workload.py BUCKETS.csv --out FILE.png [--title TEXT]
BUCKETS.csv has columns start_s,requests,rate_per_s.
"""
import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    df = pd.read_csv(a.csv)
    if df.empty:
        sys.exit(f"plot_workload: {a.csv}: no rows")
    width = df["start_s"].diff().median() if len(df) > 1 else 3600.0
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(df["start_s"] / 3600.0, df["rate_per_s"], width=width / 3600.0 * 0.9, align="edge")
    ax.set_xlabel("time since the start (h)")
    ax.set_ylabel("arrival rate (req/s)")
    ax.set_title(f"demand: {a.title}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main(sys.argv[1:])
