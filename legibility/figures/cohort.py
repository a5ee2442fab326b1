"""Figures of a cohort: characteristics by domain, their associations, the mean images and
the mean connectivity matrix (the paper's workflow panel)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from legibility.study import DOMAIN_COLOURS, DOMAINS, TARGETS

__all__ = ["association_matrix", "plot_associations", "plot_distributions", "plot_mean_connectivity",
           "plot_mean_images"]


def plot_distributions(meta: pd.DataFrame):
    """One small panel per characteristic, coloured by domain: histograms or yes-rates."""
    keys = [k for k in TARGETS if k in meta.columns]
    ncol = 7
    fig, axes = plt.subplots(int(np.ceil(len(keys) / ncol)), ncol, figsize=(2.2 * ncol, 7.5))
    for ax, key in zip(axes.flat, keys, strict=False):
        t = TARGETS[key]
        colour = DOMAIN_COLOURS[t.domain]
        if t.is_binary:
            rate = meta[key].mean()
            ax.bar([0, 1], [1 - rate, rate], color=["#cccccc", colour])
            ax.set_xticks([0, 1], ["0", "1"])
            ax.set_ylim(0, 1)
            ax.text(1, rate, f"{rate:.0%}", ha="center", va="bottom", fontsize=8)
        else:
            ax.hist(meta[key], bins=30, color=colour)
            ax.set_yticks([])
        ax.set_title(f"{t.display}" + (f" ({t.units})" if not t.is_binary else ""), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=DOMAIN_COLOURS[d]) for d in DOMAINS]
    fig.legend(handles, [DOMAINS[d].name for d in DOMAINS], loc="lower right", ncol=4, frameon=False)
    fig.suptitle(f"Characteristics of {len(meta)} participants, by domain")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    return fig


def association_matrix(meta: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations between the 25 characteristics (display names)."""
    keys = [k for k in TARGETS if k in meta.columns]
    corr = meta[keys].astype(float).corr(method="spearman")
    names = [TARGETS[k].display for k in keys]
    corr.index, corr.columns = names, names
    return corr


def plot_associations(meta: pd.DataFrame, ax=None):
    """The 25 x 25 association matrix with domain colours on the axis labels."""
    corr = association_matrix(meta)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=90, fontsize=8)
    ax.set_yticks(range(len(corr)), corr.index, fontsize=8)
    by_display = {t.display: t for t in TARGETS.values()}
    for lab in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        lab.set_color(DOMAIN_COLOURS[by_display[lab.get_text()].domain])
    ax.figure.colorbar(im, ax=ax, shrink=0.7, label="Spearman correlation")
    ax.set_title("Associations between characteristics")
    return ax


def plot_mean_images(means: dict[str, np.ndarray]):
    """Mean T1, FLAIR and DWI in three orthogonal slices (rows: modalities)."""
    fig, axes = plt.subplots(len(means), 3, figsize=(7.5, 2.6 * len(means)))
    axes = np.atleast_2d(axes)
    for row, (name, vol) in enumerate(means.items()):
        c = [s // 2 for s in vol.shape]
        slices = (vol[c[0]].T, vol[:, c[1] + vol.shape[1] // 10].T, vol[:, :, c[2] + vol.shape[2] // 10].T)
        for col, (sl, view) in enumerate(zip(slices, ("sagittal", "coronal", "axial"), strict=True)):
            ax = axes[row, col]
            ax.imshow(sl, origin="lower", cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(view)
        axes[row, 0].set_ylabel(f"mean {name.upper()}")
    fig.tight_layout()
    return fig


def plot_mean_connectivity(mean_matrix: np.ndarray, ax=None):
    """The cohort's mean connectivity matrix."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.3))
    im = ax.imshow(mean_matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.figure.colorbar(im, ax=ax, label="correlation")
    ax.set_title(f"Mean connectivity ({mean_matrix.shape[0]} nodes)")
    ax.set_xlabel("node")
    ax.set_ylabel("node")
    return ax
