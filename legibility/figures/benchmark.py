"""The benchmark figure: each cell's test score set between the bounds the synthetic cohort knows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_benchmark"]

METRIC_LABEL = {"r2": "test R²", "Balanced accuracy": "test balanced accuracy"}


def plot_benchmark(table: pd.DataFrame, title: str = ""):
    """One panel per metric (R², balanced accuracy), one row per cell: the network's score and
    95% CI (blue), its linear peer (orange square), the linear asymptote (grey diamond) and the
    ceiling with ± 1.96 SE (black bar), the share of the gap closed written at the right.
    ``table`` is :func:`legibility.benchmark.benchmark_table`'s. Returns the figure."""
    metrics = [m for m in METRIC_LABEL if (table["metric"] == m).any()]
    heights = [max((table["metric"] == m).sum(), 1) for m in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, 0.55 * sum(heights) + 1.2 * len(metrics)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for a, metric in zip(axes[:, 0], metrics, strict=True):
        sub = table[table["metric"] == metric].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        se = 1.96 * sub["ceiling_se"].fillna(0)
        a.errorbar(sub["ceiling"], y, xerr=se, fmt="|", color="black", ms=14, mew=2, capsize=0, label="ceiling")
        a.scatter(sub["linear_asymptote"], y, marker="D", s=28, color="grey", zorder=3,
                  label="linear asymptote (200 components)")
        a.scatter(sub["linear_peer"], y, marker="s", s=34, facecolor="none", edgecolor="tab:orange", lw=1.5,
                  zorder=4, label="linear peer")
        err = np.vstack([sub["network"] - sub["ci_low"], sub["ci_high"] - sub["network"]]).clip(0)
        a.errorbar(sub["network"], y, xerr=err, fmt="o", color="tab:blue", ms=6, capsize=2, zorder=5, label="network")
        a.set_yticks(y, [f"{t} ← {i}" for t, i in zip(sub["target"], sub["inputs"], strict=True)], fontsize=8)
        a.set_xlabel(METRIC_LABEL[metric])
        a.grid(axis="x", alpha=0.3)
        a.set_ylim(-0.7, len(sub) - 0.3)
        for yi, g in zip(y, sub["gap_closed"], strict=True):
            if np.isfinite(g):
                a.annotate(f"{g:+.2f}", (1.0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0),
                           textcoords="offset points", va="center", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    for a in axes[:, 0]:
        a.annotate("gap\nclosed", (1.0, 1.0), xycoords="axes fraction", xytext=(4, 2), textcoords="offset points",
                   fontsize=7, va="bottom")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
