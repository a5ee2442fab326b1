"""Figures of a sweep: every target's best model beside its linear peer and ceiling; all curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from legibility.study import DOMAIN_COLOURS, target

__all__ = ["plot_best_vs_ceiling", "plot_model_curves"]


def plot_best_vs_ceiling(best: pd.DataFrame, ax=None):
    """One row per target: the best deep model (dot, with its 95% CI), the linear peer (cross)
    and the ground-truth ceiling (bar end) where known. Binary targets on balanced accuracy
    (chance 0.5), continuous ones on R² (chance 0), in two panels. ``best`` is the table of
    ``best_models.csv`` (:func:`legibility.evaluation.best_models`): input sets chosen
    on validation, test scores shown; the ceiling's standard error as a whisker at its end."""
    parts = [("Balanced accuracy", 0.5, (0.4, 1.0)), ("r2", 0.0, (-0.2, 1.0))]
    parts = [p for p in parts if (best.metric == p[0]).any()]
    if ax is None:
        heights = [max(1.5, 0.32 * (best.metric == m).sum() + 0.8) for m, _, _ in parts]
        fig, axes = plt.subplots(len(parts), 1, figsize=(6.5, sum(heights)), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        axes = axes[:, 0]
    else:
        axes = [ax]
        parts = parts[:1]
    for a, (metric, chance, lim) in zip(axes, parts, strict=False):
        sub = best[best.metric == metric].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        colours = [DOMAIN_COLOURS[target(t).domain] for t in sub.Target]
        if "ceiling" in sub:
            a.barh(y, sub.ceiling - chance, left=chance, color=colours, alpha=0.25, height=0.7,
                   label="ground-truth ceiling")
            if "ceiling_se" in sub:
                a.errorbar(sub.ceiling, y, xerr=1.96 * sub.ceiling_se.fillna(0), fmt="none", ecolor="grey", lw=0.8)
        if "ci_low" in sub:
            a.hlines(y, sub.ci_low, sub.ci_high, color="black", lw=1)
        a.scatter(sub["test_score"], y, c=colours, edgecolor="black", zorder=3, s=40, label="best deep model")
        if "linear_peer" in sub:
            a.scatter(sub["linear_peer"], y, marker="x", color="black", zorder=3, label="linear peer")
        a.axvline(chance, color="grey", ls="--", lw=1)
        a.set_yticks(y, [f"{t}  ({i})" for t, i in zip(sub.Target, sub.Inputs, strict=True)], fontsize=7)
        a.set_xlim(*_span(sub, lim))
        a.set_xlabel("balanced accuracy (test)" if metric == "Balanced accuracy" else "R² (test)")
        a.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the data
    axes[0].figure.tight_layout()
    return axes[0].figure


def _span(sub: pd.DataFrame, lim: tuple[float, float]) -> tuple[float, float]:
    """The x range of a panel: ``lim``, widened to hold every drawn value (each CI whole, each
    ceiling with its whisker, each peer) with a margin."""
    values = [sub[c] for c in ("test_score", "ci_low", "ci_high", "linear_peer", "ceiling") if c in sub]
    if "ceiling" in sub and "ceiling_se" in sub:
        se = 1.96 * sub.ceiling_se.fillna(0)
        values += [sub.ceiling - se, sub.ceiling + se]
    drawn = pd.concat(values).astype(float) if values else pd.Series(dtype=float)
    drawn = drawn[np.isfinite(drawn)]
    if not len(drawn):
        return lim
    margin = 0.03 * (lim[1] - lim[0])
    return min(lim[0], drawn.min() - margin), max(lim[1], drawn.max() + margin)


def plot_model_curves(outpath, ncols: int = 5):
    """Training (solid) and validation (dashed) loss of every model folder under ``outpath``."""
    folders = [f for f in sorted(Path(outpath).iterdir()) if (f / "training_progress.csv").exists()]
    n = max(len(folders), 1)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, min(ncols, n), figsize=(2.6 * min(ncols, n), 2.0 * nrows), squeeze=False)
    for a, folder in zip(axes.flat, folders, strict=False):
        h = pd.read_csv(folder / "training_progress.csv")
        a.plot(h.epoch, h.train_loss, lw=1)
        a.plot(h.epoch, h.val_loss, lw=1, ls="--")
        a.axvline(h.epoch[h.val_loss.idxmin()], color="grey", lw=0.8)
        a.set_title(folder.name, fontsize=6)
        a.tick_params(labelsize=6)
    for a in list(axes.flat)[len(folders):]:
        a.axis("off")
    fig.tight_layout()
    return fig
