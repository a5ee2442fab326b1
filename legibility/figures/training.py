"""Per-model figures: training curves, confusion matrix, predicted vs true in original units."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_confusion", "plot_curves", "plot_scatter"]


def plot_curves(history: pd.DataFrame, title: str = "", ax=None):
    """Training and validation loss per epoch, the best epoch marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(history.epoch, history.train_loss, label="training")
    ax.plot(history.epoch, history.val_loss, label="validation")
    best = history.loc[history.val_loss.idxmin()]
    ax.axvline(best.epoch, color="grey", ls="--", lw=1, label=f"best (epoch {int(best.epoch)})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(frameon=False)
    return ax.figure


def plot_confusion(y_true, y_pred, tgt, ax=None):
    """Row-normalised confusion matrix of a binary target on the test set."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(np.asarray(y_true).astype(int), np.asarray(y_pred).astype(int), labels=[0, 1])
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks([0, 1], ["0", "1"])
    ax.set_yticks([0, 1], ["0", "1"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{tgt.display} ({tgt.units}), test set", fontsize=9)
    return ax.figure


def plot_scatter(y_true, y_pred, tgt, ax=None):
    """Predicted vs true in the target's units, with the identity line."""
    from sklearn.metrics import mean_absolute_error, r2_score

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo, hi = float(np.min([y_true, y_pred])), float(np.max([y_true, y_pred]))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel(f"true {tgt.display} ({tgt.units})")
    ax.set_ylabel(f"predicted ({tgt.units})")
    ax.set_title(f"R² {r2_score(y_true, y_pred):.3f}, MAE {mean_absolute_error(y_true, y_pred):.2f} {tgt.units}",
                 fontsize=9)
    return ax.figure
