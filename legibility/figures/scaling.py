"""The data-scaling figure: test score against training size, deep model and linear peer, with
the ground-truth ceiling as a band."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_scaling"]

LEARNERS = {"deep": ("tab:blue", "o", "deep model"), "linear": ("tab:orange", "s", "linear peer")}


def plot_scaling(table: pd.DataFrame, ax=None):
    """One panel per target: the mean test score over seeds at each training size (log scale),
    each learner's mean 95% bootstrap interval shaded, each seed a small dot, the ceiling with its
    sampling band and, where the cohort has one, the linear asymptote (dashed). ``table`` has the
    columns of :data:`legibility.scaling.COLUMNS`; ``ax`` is one axes (one target) or a sequence
    of them. Returns the figure."""
    targets = list(dict.fromkeys(table["target"]))
    if ax is None:
        fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 3.8), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
        fig = axes[0].figure
    for a, name in zip(axes, targets, strict=False):
        sub = table[table["target"] == name]
        metric = sub["metric"].iloc[0] if "metric" in sub else "score"
        sizes = np.sort(sub["n_train"].unique())
        ceiling = sub[["ceiling", "ceiling_low", "ceiling_high"]].mean() if "ceiling_low" in sub else None
        if ceiling is not None and np.isfinite(ceiling["ceiling"]):
            a.axhspan(ceiling["ceiling_low"], ceiling["ceiling_high"], color="grey", alpha=0.25, lw=0)
            a.axhline(ceiling["ceiling"], color="grey", lw=1, label=f"ceiling {ceiling['ceiling']:.3f}")
        asymptote = sub["linear_asymptote"].mean() if "linear_asymptote" in sub else np.nan
        if np.isfinite(asymptote):
            a.axhline(asymptote, color="grey", lw=1, ls="--", label=f"linear asymptote {asymptote:.3f}")
        for learner, (colour, marker, label) in LEARNERS.items():
            rows = sub[sub["learner"] == learner]
            if rows.empty:
                continue
            mean = rows.groupby("n_train")[["test_score", "ci_low", "ci_high"]].mean().reindex(sizes).dropna()
            a.fill_between(mean.index, mean.ci_low, mean.ci_high, color=colour, alpha=0.15, lw=0)
            a.plot(mean.index, mean.test_score, marker=marker, color=colour, label=label)
            a.scatter(rows["n_train"], rows["test_score"], color=colour, s=8, alpha=0.6)
        a.set_xscale("log")
        a.set_xticks(sizes, [f"{n:,}" for n in sizes])
        a.minorticks_off()
        a.set_xlabel("training participants")
        a.set_ylabel("balanced accuracy (test)" if metric == "Balanced accuracy" else "R² (test)")
        a.set_title(f"{name} | {sub['inputs'].iloc[0]}")
        a.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
