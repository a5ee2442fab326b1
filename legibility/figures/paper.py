"""The paper's summary figures, drawn from any metrics table in the published schema:
the performance grid, the domain-effect coefficient plots and the training efficiency."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from legibility.evaluation import best_models
from legibility.figures.effects import plot_domain_effects
from legibility.figures.graphs import plot_networks
from legibility.figures.grid import performance_matrices, plot_performance_grid
from legibility.study import TARGETS, target

__all__ = ["GPU_LABELS", "headline", "performance_matrices", "plot_domain_effects", "plot_networks",
           "plot_performance_grid", "plot_training_efficiency"]

# The paper's axis labels of the training-efficiency figure (its times are GPU times).
GPU_LABELS = {"minutes_label": "Training time per model (GPU mins)",
              "hours_label": "Total training time per input set (GPU hours)"}


def plot_training_efficiency(metrics: pd.DataFrame, minutes_label: str = "Training time per model (mins)",
                             hours_label: str = "Total training time per input set (hours)"):
    """The paper's training-efficiency figure. A: minutes per model by input set (seaborn strip
    plot, with the mean and its bootstrap 95% CI as a point plot), slowest first; B: total hours
    per input set (bars), largest first. The labels name the units (the paper's: GPU minutes
    and GPU hours, see :data:`GPU_LABELS`)."""
    import seaborn as sns

    from legibility.figures import panel_letter

    t = metrics[["Inputs", "Training time (mins)"]].dropna()
    g = t.groupby("Inputs")["Training time (mins)"]
    by_mean = g.mean().sort_values(ascending=False).index
    hours = (g.sum() / 60).sort_values(ascending=False)
    height = max(3.0, 0.17 * len(by_mean) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, height), layout="constrained")
    sns.stripplot(t, x="Training time (mins)", y="Inputs", order=by_mean, ax=a, color="grey", alpha=0.5, size=3,
                  jitter=0.15)
    sns.pointplot(t, x="Training time (mins)", y="Inputs", order=by_mean, ax=a, color="black", markers="D",
                  linestyles="none", errorbar=("ci", 95), seed=0, markersize=3, err_kws={"linewidth": 1.2})
    a.set_xlabel(minutes_label)
    sns.barplot(x=hours.to_numpy(), y=hours.index, ax=b, color="#333333", orient="h")
    b.set_xlabel(hours_label)
    for ax, letter in ((a, "A"), (b, "B")):
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(left=0)
        ax.spines[["top", "right"]].set_visible(False)
        panel_letter(ax, letter, size=18, gid=f"letter:{letter}")
    return fig


def headline(metrics: pd.DataFrame, best: pd.DataFrame | None = None) -> pd.DataFrame:
    """The best model of each target with its test score, by domain (the paper's summary).
    ``best``: the choice (``best_models.csv``); default :func:`legibility.evaluation.best_models`."""
    best = (best_models(metrics) if best is None else best).copy()
    best["domain"] = [target(t).domain for t in best.Target]
    order = {t.display: i for i, t in enumerate(TARGETS.values())}
    best = best.sort_values("Target", key=lambda s: s.map(order)).reset_index(drop=True)
    return best[["domain", "Target", "Inputs", "metric", "selected_by", "val_score", "test_score"]]
