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

__all__ = ["LOGISTIC_CS", "LOGISTIC_TOL", "PEER_MAX_TRAIN", "RIDGE_ALPHAS", "linear_features", "linear_peer",
           "peer_training_rows", "start_linear_path"]

PEER_SIDE = 16
# At most this many training participants fit the peer: its design matrix is float64 and, with
# connectivity (64,620 edges) and 16^3 volumes, 19,048 participants would need ~12 GB; 5,000
# need ~3 GB. Smaller training sets (every synthetic run here) are used whole.
PEER_MAX_TRAIN = 5_000
# The penalties tried, the best chosen on validation: inverse strengths C of the logistic
# regression (binary targets), strengths alpha of the ridge (continuous ones).
LOGISTIC_CS = (1e-4, 1e-3, 1e-2, 1e-1)
RIDGE_ALPHAS = (1e0, 1e1, 1e2, 1e3, 1e4, 1e5)
LOGISTIC_TOL = 1e-4  # the logistic regression's stopping tolerance (scikit-learn's default)


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


def _best_fit(x: dict, y: dict, binary: bool):
    """The ridge (continuous ``y``) or class-balanced logistic regression (binary) fitted on
    ``x["train"]`` whose penalty scores best on ``x["val"]`` (R^2, or balanced accuracy)."""
    best, best_score = None, -np.inf
    if binary:
        for c in LOGISTIC_CS:
            m = LogisticRegression(C=c, class_weight="balanced", max_iter=300, tol=LOGISTIC_TOL)
            m.fit(x["train"], y["train"])
            sc = balanced_accuracy_score(y["val"], m.predict(x["val"]))
            if sc > best_score:
                best, best_score = m, sc
        return best
    for alpha in RIDGE_ALPHAS:
        m = Ridge(alpha=alpha).fit(x["train"], y["train"])
        sc = r2_score(y["val"], m.predict(x["val"]))
        if sc > best_score:
            best, best_score = m, sc
    return best


def _standardised(x: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """Each split of ``x`` standardised with the training split's mean and SD; and those two."""
    mu, sd = x["train"].mean(0), x["train"].std(0) + 1e-6
    return {k: (v - mu) / sd for k, v in x.items()}, mu, sd


def _training_rows(data) -> np.ndarray:
    return peer_training_rows(data.rows["train"])


def peer_training_rows(tr: np.ndarray) -> np.ndarray:
    """The training rows ``tr`` the peer fits on: all of them, or ``PEER_MAX_TRAIN`` drawn
    with a fixed seed."""
    if len(tr) > PEER_MAX_TRAIN:
        tr = np.sort(np.random.default_rng(0).choice(tr, PEER_MAX_TRAIN, replace=False))
    return tr


def linear_peer(data, predictions: bool = False) -> dict[str, dict[str, float]]:
    """Scores of the linear peer on validation and test (regularisation chosen on validation);
    with ``predictions``, each split's dict also holds ``prediction``: the predicted class (binary
    targets) or value (continuous ones) of each of its participants."""
    rows = {"train": _training_rows(data), "val": data.rows["val"], "test": data.rows["test"]}
    x, _, _ = _standardised({s: linear_features(data, r) for s, r in rows.items()})
    y = {s: data.y[r] for s, r in rows.items()}
    if data.tgt.is_binary and len(np.unique(y["train"])) < 2:
        return {s: {"balanced_accuracy": float("nan"), "r2": 0.0, "mae": 0.0} for s in ("val", "test")}
    best = _best_fit(x, y, data.tgt.is_binary)
    out = {}
    for s in ("val", "test"):
        p = best.predict(x[s])
        if data.tgt.is_binary:
            out[s] = {"balanced_accuracy": balanced_accuracy_score(y[s], p), "r2": 0.0, "mae": 0.0}
        else:
            out[s] = {"balanced_accuracy": balanced_accuracy_score(y[s] > data.train_median, p > data.train_median),
                      "r2": r2_score(y[s], p), "mae": mean_absolute_error(y[s], p)}
        if predictions:
            out[s]["prediction"] = p
    return out


@torch.no_grad()
def start_linear_path(model, data) -> None:
    """Set ``model``'s linear path to its linear peer's fit on the voxels the path sees (the
    volumes after the network's input pooling, not the connectivity or metadata), in the model's
    own output space: a ridge on the transformed target, or a class-balanced logistic regression
    whose logit goes to the second output and its negative to the first; penalty chosen on
    validation as the peer's. The standardisation is folded into the weights. Training rows past
    ``PEER_MAX_TRAIN`` are subsampled as the peer's are."""
    path = model.linear_path
    if path is None:
        raise ValueError("start_linear_path needs a model with a linear path (ModelConfig.linear_path=True "
                         "and volumes among its inputs).")
    rows = {"train": _training_rows(data), "val": data.rows["val"]}

    def voxels(r):
        return np.concatenate([model.volumes.inpool(data.batch(r[s:s + 64])["volumes"]).flatten(1).double().numpy()
                               for s in range(0, len(r), 64)])

    x, mu, sd = _standardised({s: voxels(r) for s, r in rows.items()})
    binary = data.tgt.is_binary
    y = {s: (data.y[r] if binary else data.target_values(r)[:, 0]) for s, r in rows.items()}
    if binary and len(np.unique(y["train"])) < 2:
        return  # one class only: nothing to fit, the path stays at zero
    best = _best_fit(x, y, binary)
    coef = np.ravel(best.coef_) / sd
    bias = float(np.ravel(best.intercept_)[0]) - float(coef @ mu)
    w, b = (np.stack([-coef, coef]), np.array([-bias, bias])) if binary else (coef[None], np.array([bias]))
    path.weight.copy_(torch.as_tensor(w, dtype=path.weight.dtype))
    path.bias.copy_(torch.as_tensor(b, dtype=path.bias.dtype))
