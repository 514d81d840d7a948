#!/usr/bin/env python3
"""Plot the output of benches/compare.sh.

Usage: python3 benches/plot.py DIR [--png]

Reads DIR/runs.csv (one row per load run) and writes DIR/compare.svg (and DIR/compare.png with
--png): throughput and server CPU per request for every variant, bars at the median over the
rounds, whiskers at the minimum and maximum. Installs matplotlib with pip if it is missing.
"""

import csv
import statistics
import subprocess
import sys
from collections import defaultdict


def need_matplotlib():
    try:
        import matplotlib
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
        import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


ORDER = [
    ("ours-open", "example\nopen"),
    ("ours-open-md5", "example\nopen\n(MD5 decoy)"),
    ("ours-md5", "example\nMD5"),
    ("ours-open-sha256", "example\nopen\n(SHA-256 decoy)"),
    ("ours-sha256", "example\nSHA-256"),
    ("ours-redis", "example\nSHA-256, Redis"),
    ("apache-open", "Apache\nopen"),
    ("apache-digest", "Apache\nMD5"),
]
COLOURS = {
    "ours-open": "#9ecae1",
    "ours-open-md5": "#9ecae1",
    "ours-md5": "#3182bd",
    "ours-open-sha256": "#c6dbef",
    "ours-sha256": "#08519c",
    "ours-redis": "#6a51a3",
    "apache-open": "#fdae6b",
    "apache-digest": "#d94801",
}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    out = args[0]
    runs = defaultdict(list)
    with open(f"{out}/runs.csv", newline="") as f:
        for row in csv.DictReader(f):
            runs[row["variant"]].append(row)
    variants = [(v, label) for v, label in ORDER if v in runs]
    if not variants:
        sys.exit(f"no runs in {out}/runs.csv")

    plt = need_matplotlib()
    fig, (ax_rps, ax_cpu) = plt.subplots(1, 2, figsize=(13, 4.6))
    xs = range(len(variants))
    for ax, key, title, unit in (
        (ax_rps, "rps", "Throughput (higher is better)", "requests / s"),
        (ax_cpu, "server_cpu_us_per_req", "Server CPU per request (lower is better)", "µs"),
    ):
        med, lo, hi = [], [], []
        for v, _ in variants:
            vals = [float(r[key]) for r in runs[v]]
            m = statistics.median(vals)
            med.append(m)
            lo.append(m - min(vals))
            hi.append(max(vals) - m)
        ax.bar(
            xs,
            med,
            yerr=[lo, hi],
            capsize=4,
            color=[COLOURS[v] for v, _ in variants],
            edgecolor="black",
            linewidth=0.5,
        )
        for x, m in zip(xs, med):
            ax.annotate(
                f"{m:,.0f}" if key == "rps" else f"{m:.1f}",
                (x, m),
                textcoords="offset points",
                xytext=(5, 3),
                ha="left",
                fontsize=8,
            )
        ax.set_xticks(list(xs), [label for _, label in variants], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    rounds = max(len(r) for r in runs.values())
    fig.suptitle(
        f"Digest auth vs open, same machine, same load generator "
        f"(median of {rounds} rounds, whiskers min–max)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(f"{out}/compare.svg")
    if "--png" in sys.argv:
        fig.savefig(f"{out}/compare.png", dpi=110)
    print(f"wrote {out}/compare.svg" + (f" and {out}/compare.png" if "--png" in sys.argv else ""))


if __name__ == "__main__":
    main()
