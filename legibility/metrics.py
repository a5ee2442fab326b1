"""Test-set metrics in the published table's schema, in original units.

Binary targets: balanced accuracy, weighted precision/recall/F1 and AUC of a predicted
probability (threshold 0.5); ``r2``, ``r`` and ``MAE`` are written as 0, as the paper's table
does. Continuous targets: ``r2``, ``r`` and ``MAE`` in the target's own units; the
classification columns come from splitting truth and prediction at the training median.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

__all__ = ["bootstrap_ci", "bootstrap_se", "score_binary", "score_continuous"]


def _classification(y_true: np.ndarray, y_pred: np.ndarray, score: np.ndarray) -> dict:
    p, r, f, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, average="weighted", zero_division=0
    )
    try:
        auc = skm.roc_auc_score(y_true, score)
    except ValueError:  # a single class in y_true
        auc = float("nan")
    return {
        "Balanced accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "Weighted precision": p,
        "Weighted recall": r,
        "Weighted F1": f,
        "AUC": auc,
    }


def score_binary(y_true, prob) -> dict:
    """Published metrics of a binary target from the predicted probability of class 1."""
    y_true = np.asarray(y_true).astype(int)
    prob = np.asarray(prob, dtype=float)
    out = _classification(y_true, (prob >= 0.5).astype(int), prob)
    out.update({"r2": 0.0, "r": 0.0, "MAE": 0.0})
    return out


def score_continuous(y_true, y_pred, train_median: float) -> dict:
    """Published metrics of a continuous target, both arrays in original units."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    out = _classification(
        (y_true > train_median).astype(int), (y_pred > train_median).astype(int), y_pred
    )
    r = np.corrcoef(y_true, y_pred)[0, 1] if np.std(y_pred) > 0 else 0.0
    out.update({
        "r2": skm.r2_score(y_true, y_pred),
        "r": float(r),
        "MAE": skm.mean_absolute_error(y_true, y_pred),
    })
    return out


def _balanced_accuracy_rows(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each row of 0/1 truths ``t`` and predictions ``p`` (the mean recall
    over the classes present in that row's truth, as scikit-learn computes it)."""
    recalls = []
    for c in (0, 1):
        n = (t == c).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(n > 0, ((t == c) & (p == c)).sum(1) / n, np.nan))
    return np.nanmean(np.stack(recalls), axis=0)


def _r2_rows(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    ss_res = ((t - p) ** 2).sum(1)
    ss_tot = ((t - t.mean(1, keepdims=True)) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)


_VECTORISED = {"balanced_accuracy": _balanced_accuracy_rows, "r2": _r2_rows}


def bootstrap_ci(y_true, y_pred, metric, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05):
    """Percentile bootstrap (1 - alpha) interval of a metric of ``(y_true, y_pred)``.

    ``metric`` is ``"balanced_accuracy"`` (0/1 labels) or ``"r2"``, computed for all resamples
    at once, or any callable ``metric(y_true, y_pred)``, called once per resample."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rng = np.random.default_rng(seed)
    n = len(y_true)
    idx = rng.integers(0, n, (n_boot, n))
    if isinstance(metric, str):
        vals = _VECTORISED[metric](y_true[idx].astype(float), y_pred[idx].astype(float))
        vals = vals[np.isfinite(vals)]
    else:
        vals = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resamples with one class are expected on small sets
            for row in idx:
                try:
                    vals.append(metric(y_true[row], y_pred[row]))
                except ValueError:
                    continue
    if not len(vals):
        return float("nan"), float("nan")
    lo, hi = np.nanpercentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def bootstrap_se(y_true, y_pred, metric: str, n_boot: int = 200, seed: int = 0) -> float:
    """Bootstrap standard error of ``"balanced_accuracy"`` (0/1 labels) or ``"r2"`` of
    ``(y_true, y_pred)``: the spread of the score over resamples of the participants."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    idx = np.random.default_rng(seed).integers(0, len(y_true), (n_boot, len(y_true)))
    vals = _VECTORISED[metric](y_true[idx], y_pred[idx])
    vals = vals[np.isfinite(vals)]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")

