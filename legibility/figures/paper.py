"""The paper's summary figures, drawn from any metrics table in the published schema:
the performance grid, the domain-effect coefficient plots and the training efficiency."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from legibility.analysis import stars
from legibility.evaluation import best_models
from legibility.figures.grid import performance_matrices, plot_performance_grid
from legibility.figures.networks import plot_networks
from legibility.study import DOMAIN_COLOURS, DOMAINS, TARGETS, target

__all__ = ["headline", "performance_matrices", "plot_domain_effects", "plot_networks", "plot_performance_grid",
           "plot_training_efficiency"]

def _title(rows: pd.DataFrame) -> str:
    r = rows.iloc[0]
    return f"{r.domain}: Models (n={int(r.n)}) | Targets (n={int(r.n_targets)})"


def plot_domain_effects(effects: pd.DataFrame):
    """The paper's coefficient plots: one panel per domain (balanced accuracy; serology: the
    additive R² model), each input's coefficient with its 95% CI and stars. Terms that could not
    be estimated and fits with warnings are written on the panel."""
    panels = []
    for name in [d.name for d in DOMAINS.values()]:
        sub = effects[effects.domain == name]
        if name == "Serology":
            additive = sub[(sub.outcome == "r2") & ~sub.formula.str.contains(":")]
            sub = additive if len(additive) else sub[sub.outcome == "Balanced accuracy"]
        else:
            sub = sub[sub.outcome == "Balanced accuracy"]
        if len(sub):
            panels.append((name, sub[sub.term != "Intercept"].reset_index(drop=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False,
                             layout="constrained")
    for ax, (name, sub) in zip(axes[0], panels, strict=True):
        colour = DOMAIN_COLOURS[next(k for k, d in DOMAINS.items() if d.name == name)]
        y = np.arange(len(sub))[::-1]
        ok = sub.coef.notna().to_numpy()
        ax.errorbar(sub.coef[ok], y[ok], xerr=[(sub.coef - sub.ci_low)[ok], (sub.ci_high - sub.coef)[ok]],
                    fmt="o", color=colour, ecolor="black", capsize=3)
        span = np.nanmax(np.abs(np.r_[sub.ci_low, sub.ci_high, 1e-3]))
        for yi, r in zip(y, sub.itertuples(), strict=True):
            if np.isfinite(r.coef):
                ax.text(r.ci_high + 0.04 * span, yi, stars(r.p), va="center", fontsize=10)
            else:
                ax.text(0, yi, "not estimable", va="center", ha="center", fontsize=7, color="grey")
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_xlim(-1.3 * span, 1.3 * span)
        ax.set_yticks(y, sub.term)
        outcome = "R²" if sub.outcome.iloc[0] == "r2" else "balanced accuracy"
        ax.set_xlabel(f"coefficient ({outcome})\ndetrimental ← → advantageous", fontsize=8)
        ax.set_title(_title(sub), fontsize=9)
        notes = sorted({s for s in sub.status.dropna() if s != "ok" and not s.startswith("not estimable")})
        if notes:
            ax.annotate("\n".join(notes), (0.02, 0.02), xycoords="axes fraction", fontsize=5.5, color="firebrick",
                        wrap=True)
    return fig


def plot_training_efficiency(metrics: pd.DataFrame, minutes_label: str = "Training time per model (mins)"):
    """A: minutes per model by input set (seaborn strip plot, with the mean and its bootstrap
    95% CI as a point plot), slowest first; B: total hours per input set (bars), largest first."""
    import seaborn as sns

    t = metrics[["Inputs", "Training time (mins)"]].dropna()
    g = t.groupby("Inputs")["Training time (mins)"]
    by_mean = g.mean().sort_values(ascending=False).index
    hours = (g.sum() / 60).sort_values(ascending=False)
    height = max(3.0, 0.16 * len(by_mean) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, height), layout="constrained")
    sns.stripplot(t, x="Training time (mins)", y="Inputs", order=by_mean, ax=a, color="grey", alpha=0.5, size=3,
                  jitter=0.15)
    sns.pointplot(t, x="Training time (mins)", y="Inputs", order=by_mean, ax=a, color="black", markers="D",
                  linestyles="none", errorbar=("ci", 95), seed=0, markersize=3, err_kws={"linewidth": 1.2})
    a.set_xlabel(minutes_label)
    sns.barplot(x=hours.to_numpy(), y=hours.index, ax=b, color="#333333", orient="h")
    b.set_xlabel("Total training time per input set (hours)")
    for ax, letter in ((a, "A"), (b, "B")):
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=6)
        ax.set_xlim(left=0)
        ax.set_title(letter, loc="left", fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def headline(metrics: pd.DataFrame, best: pd.DataFrame | None = None) -> pd.DataFrame:
    """The best model of each target with its test score, by domain (the paper's summary).
    ``best``: the choice (``best_models.csv``); default :func:`legibility.evaluation.best_models`."""
    best = (best_models(metrics) if best is None else best).copy()
    best["domain"] = [target(t).domain for t in best.Target]
    order = {t.display: i for i, t in enumerate(TARGETS.values())}
    best = best.sort_values("Target", key=lambda s: s.map(order)).reset_index(drop=True)
    return best[["domain", "Target", "Inputs", "metric", "selected_by", "val_score", "test_score"]]
