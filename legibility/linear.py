"""The linear peer of every deep model: the same split and inputs through a ridge (continuous
targets) or a class-balanced logistic regression (binary), on volumes downsampled to 16^3,
the connectivity upper triangles and the metadata. On UK Biobank, linear models match deep
ones at these sample sizes (Schulz et al. 2020, Nature Communications)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, r2_score

__all__ = ["linear_features", "linear_peer"]

PEER_SIDE = 16
# At most this many training participants fit the peer: its design matrix is float64 and, with
# connectivity (64,620 edges) and 16^3 volumes, 19,048 participants would need ~12 GB; 5,000
# need ~3 GB. Smaller training sets (every synthetic run here) are used whole.
PEER_MAX_TRAIN = 5_000


def linear_features(data, rows) -> np.ndarray:
    """Flattened inputs of ``rows``: volumes pooled to 16^3, connectivity, metadata."""
    parts = []
    for s in range(0, len(rows), 64):
        b = data.batch(rows[s:s + 64])
        feats = []
        if "volumes" in b:
            v = b["volumes"]
            if v.shape[-1] > PEER_SIDE:
                v = F.adaptive_avg_pool3d(v, PEER_SIDE)
            feats.append(v.flatten(1))
        for k in ("connectivity", "metadata"):
            if k in b:
                feats.append(b[k])
        parts.append(torch.cat(feats, 1).numpy())
    return np.concatenate(parts).astype(np.float64)


def linear_peer(data, predictions: bool = False) -> dict[str, dict[str, float]]:
    """Scores of the linear peer on validation and test (regularisation chosen on validation);
    with ``predictions``, each split's dict also holds ``prediction``: the predicted class (binary
    targets) or value (continuous ones) of each of its participants."""
    tr, va, te = (data.rows[s] for s in ("train", "val", "test"))
    if len(tr) > PEER_MAX_TRAIN:
        tr = np.sort(np.random.default_rng(0).choice(tr, PEER_MAX_TRAIN, replace=False))
    x = {s: linear_features(data, r) for s, r in (("train", tr), ("val", va), ("test", te))}
    mu, sd = x["train"].mean(0), x["train"].std(0) + 1e-6
    x = {k: (v - mu) / sd for k, v in x.items()}
    y = {"train": data.y[tr], "val": data.y[va], "test": data.y[te]}
    best, best_score = None, -np.inf
    if data.tgt.is_binary:
        if len(np.unique(y["train"])) < 2:
            return {s: {"balanced_accuracy": float("nan"), "r2": 0.0, "mae": 0.0} for s in ("val", "test")}
        for c in (1e-4, 1e-3, 1e-2, 1e-1):
            m = LogisticRegression(C=c, class_weight="balanced", max_iter=300).fit(x["train"], y["train"])
            sc = balanced_accuracy_score(y["val"], m.predict(x["val"]))
            if sc > best_score:
                best, best_score = m, sc
        out = {s: {"balanced_accuracy": balanced_accuracy_score(y[s], best.predict(x[s])), "r2": 0.0, "mae": 0.0}
               for s in ("val", "test")}
        if predictions:
            for s in out:
                out[s]["prediction"] = best.predict(x[s])
        return out
    for alpha in (1e0, 1e1, 1e2, 1e3, 1e4, 1e5):
        m = Ridge(alpha=alpha).fit(x["train"], y["train"])
        sc = r2_score(y["val"], m.predict(x["val"]))
        if sc > best_score:
            best, best_score = m, sc
    out = {}
    for s in ("val", "test"):
        p = best.predict(x[s])
        out[s] = {"balanced_accuracy": balanced_accuracy_score(y[s] > data.train_median, p > data.train_median),
                  "r2": r2_score(y[s], p), "mae": mean_absolute_error(y[s], p)}
        if predictions:
            out[s]["prediction"] = p
    return out
