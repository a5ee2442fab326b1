"""The linear peers of many models at once (all 700 of the grid in a minute or two).

Each model's linear peer (:func:`legibility.linear.linear_peer`) is a ridge or a class-balanced
logistic regression on the standardised features of its inputs: the volumes pooled to 16^3,
the connectivity edges, the metadata columns of its blocks. Fitted one by one, each of the
700 models reads its volumes and fits its penalties on a design of up to ~17,000 columns.
Here the work is shared:

- every feature is standardised on its own column, so the imaging features of one input key
  are the same for every target; each key's kernel ``X X'`` (training rows by all rows) is
  computed once, and an input set's kernel is the sum of its keys' kernels;
- one eigendecomposition of the training kernel per imaging set, ``K = U diag(lam) U'``,
  serves every target and every penalty: in the basis ``Z = U sqrt(lam)`` the imaging block
  is ``min(n, p)`` orthogonal columns, and a ridge (or an L2-penalised logistic regression)
  on ``X`` equals one on ``Z``, the penalty being invariant to the rotation;
- the metadata block (at most 24 columns) enters by a block solve: for a ridge of penalty
  ``alpha``, with ``G = U' M`` and ``h = U' y``,
  ``S = M'M + alpha I - G' diag(lam / (lam + alpha)) G``,
  ``w_meta = S^-1 (M'y - G' (lam / (lam + alpha) h))``, ``c = (h - G w_meta) / (lam + alpha)``,
  and a new participant's prediction is ``k' U c + m' w_meta`` (``k``: its kernel row);
- the logistic regressions are fitted on ``[Z, M]`` (``min(n, p) + q`` columns) by Newton's
  method (:func:`_balanced_logistic`: the objective of scikit-learn's, solved to a tight
  tolerance, where the one-by-one fit's L-BFGS stops at scikit-learn's default).

The penalties, their choice on validation and the scores on test are those of
:func:`legibility.linear.linear_peer`; :func:`linear_peers_one_by_one` is that fit applied to
each model, and the tests check that both give the same scores.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from legibility.data.batches import BatchReader, usable
from legibility.data.cache import Cache
from legibility.linear import LOGISTIC_CS, RIDGE_ALPHAS, linear_features, peer_training_rows
from legibility.metrics import score_binary, score_continuous
from legibility.study import DOMAINS, METRIC_COLUMNS, TARGETS, InputSet, Target, grid, metadata_columns
from legibility.transforms import MetadataNormaliser, VoxelStandardiser

__all__ = ["PEER_COLUMNS", "linear_peers", "linear_peers_one_by_one"]

PEER_COLUMNS = (*METRIC_COLUMNS, "n_train", "n_val", "n_test", "penalty")
_SPLITS = ("train", "val", "test")
_KEYS = ("flair", "t1", "dwi", "connectivity")  # each key's features are standardised on their own


def _model_rows(cache: Cache, tgt: Target, inputs: InputSet) -> dict[str, np.ndarray]:
    """The participants of each split a model uses, as :class:`~legibility.data.model_data.ModelData`
    chooses them (every modality, the target and the columns of its metadata blocks present)."""
    used = [c for c in metadata_columns(tgt) if TARGETS[c].domain in inputs.blocks]
    ok = usable(cache, inputs.imaging, [tgt.key, *used])
    split = cache.table["split"].to_numpy()
    return {s: np.flatnonzero((split == s) & ok) for s in _SPLITS}


class _Reader:
    """What :func:`~legibility.linear.linear_features` reads: ``batch(rows)``, here of one input key."""

    def __init__(self, cache: Cache, key: str, fit_rows: np.ndarray):
        channels = [key] if key != "connectivity" else []
        voxel = VoxelStandardiser().fit([cache.volume_array(key)], fit_rows) if channels else None
        self.read = BatchReader(cache, channels, key == "connectivity", None, voxel)

    def batch(self, rows):
        return self.read(rows)


class _Design:
    """The shared pieces of one set of participants (same training, validation and test rows):
    each key's kernel, each imaging set's eigendecomposition, each metadata block set's columns."""

    def __init__(self, cache: Cache, rows: dict[str, np.ndarray]):
        self.cache, self.rows = cache, rows
        self.fit = peer_training_rows(rows["train"])  # the peer's training rows
        self.new = np.concatenate([rows["val"], rows["test"]])
        self.n_val = len(rows["val"])
        self._kernels, self._eigen, self._meta = {}, {}, {}

    def kernel(self, key: str) -> np.ndarray:
        """``X X'`` of one key's standardised features: (training + validation + test) x training."""
        if key not in self._kernels:
            rows = np.concatenate([self.fit, self.new])
            x = linear_features(_Reader(self.cache, key, self.rows["train"]), rows)
            tr = x[:len(self.fit)]
            x = (x - tr.mean(0)) / (tr.std(0) + 1e-6)
            self._kernels[key] = x @ x[:len(self.fit)].T
        return self._kernels[key]

    def eigen(self, imaging: frozenset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``lam, U`` of the training kernel of ``imaging`` and ``K_new U`` (validation, then test rows)."""
        if imaging not in self._eigen:
            n = len(self.fit)
            if not imaging:
                self._eigen[imaging] = (np.zeros(0), np.zeros((n, 0)), np.zeros((len(self.new), 0)))
            else:
                k = sum(self.kernel(key) for key in sorted(imaging))
                lam, u = np.linalg.eigh((k[:n] + k[:n].T) / 2)
                self._eigen[imaging] = (np.clip(lam, 0, None), u, k[n:] @ u)
        return self._eigen[imaging]

    def metadata(self, blocks: frozenset) -> tuple[np.ndarray, np.ndarray]:
        """The standardised metadata columns of ``blocks``: training rows, and validation + test rows."""
        if blocks not in self._meta:
            cols = [k for k, t in TARGETS.items() if t.domain in blocks]
            if not cols:
                self._meta[blocks] = (np.zeros((len(self.fit), 0)), np.zeros((len(self.new), 0)))
            else:
                raw = self.cache.table[cols].to_numpy(np.float64)
                binary = np.array([TARGETS[c].is_binary for c in cols])
                norm = MetadataNormaliser().fit(raw[self.rows["train"]], binary, np.ones(len(cols), bool))
                m = norm.transform(raw).astype(np.float64)
                tr = m[self.fit]
                mu, sd = tr.mean(0), tr.std(0) + 1e-6
                self._meta[blocks] = ((tr - mu) / sd, (m[self.new] - mu) / sd)
        return self._meta[blocks]


def _ridge(design: _Design, imaging, blocks, y_fit, y_val) -> tuple[np.ndarray, float]:
    """Predictions (validation, then test) of the ridge whose penalty scores best on validation."""
    from sklearn.metrics import r2_score

    lam, u, ku_new = design.eigen(imaging)
    m_fit, m_new = design.metadata(blocks)
    m_mean = m_fit.mean(0)
    m_fit, m_new = m_fit - m_mean, m_new - m_mean
    y_mean = y_fit.mean()
    yc = y_fit - y_mean
    h, g = u.T @ yc, u.T @ m_fit
    mty, mtm = m_fit.T @ yc, m_fit.T @ m_fit
    best, best_score, best_alpha = None, -np.inf, np.nan
    for alpha in RIDGE_ALPHAS:
        shrink = lam / (lam + alpha)
        s = mtm + alpha * np.eye(len(mtm)) - g.T @ (shrink[:, None] * g)
        w = np.linalg.solve(s, mty - g.T @ (shrink * h)) if len(mtm) else np.zeros(0)
        c = (h - g @ w) / (lam + alpha)
        pred = ku_new @ c + m_new @ w + y_mean
        score = r2_score(y_val, pred[:design.n_val])
        if score > best_score:
            best, best_score, best_alpha = pred, score, alpha
    return best, best_alpha


def _balanced_logistic(x: np.ndarray, y: np.ndarray, c: float, start=None, tol: float = 1e-10):
    """The class-balanced, L2-penalised logistic regression of scikit-learn's
    ``LogisticRegression(C=c, class_weight="balanced")`` (same objective: ``c`` times the
    balanced log-loss plus half the squared weights, the intercept unpenalised), solved by
    Newton's method with a Jacobi-preconditioned conjugate-gradient step and a backtracking line
    search, to a gradient ``tol`` times the first. On the orthogonal imaging basis the Hessian is
    nearly diagonal, so a few conjugate-gradient steps solve each Newton step.

    Returns the weights, the intercept last (``start``: a warm start of the same shape).
    """
    from scipy.special import expit

    n, d = x.shape
    xa = np.column_stack([x, np.ones(n)])
    xa2 = xa**2
    t = y.astype(float)
    n1 = t.sum()
    s = c * np.where(t == 1, n / (2 * n1), n / (2 * (n - n1)))
    reg = np.r_[np.ones(d), 0.0]
    w = np.zeros(d + 1) if start is None else start.copy()

    def objective(w):
        z = xa @ w
        return s @ (np.logaddexp(0, z) - t * z) + 0.5 * (reg * w) @ w

    g0 = g2 = None
    f = objective(w)
    for _ in range(100):
        p = expit(xa @ w)
        g = xa.T @ (s * (p - t)) + reg * w
        size = np.abs(g).max()
        g0 = size if g0 is None else g0
        if size <= tol * max(g0, 1e-300) or size < 1e-14:
            break
        h = s * p * (1 - p)
        m = xa2.T @ h + reg  # the Hessian's diagonal
        step, r = np.zeros(d + 1), -g  # preconditioned conjugate gradients on H step = -g
        z = r / m
        q = z.copy()
        rz = r @ z
        norm = np.linalg.norm(g)
        g2 = norm if g2 is None else g2
        stop = min(0.5, np.sqrt(norm / g2)) * norm  # inexact Newton: looser far from the optimum
        for _ in range(100):
            hq = xa.T @ (h * (xa @ q)) + reg * q
            a = rz / (q @ hq)
            step += a * q
            r -= a * hq
            if np.linalg.norm(r) <= stop:
                break
            z = r / m
            rz, old = r @ z, rz
            q = z + (rz / old) * q
        slope, alpha = g @ step, 1.0
        while alpha > 1e-10:
            new = objective(w + alpha * step)
            if new <= f + 1e-4 * alpha * slope:
                break
            alpha /= 2
        w, f = w + alpha * step, new
    return w


def _logistic(design: _Design, imaging, blocks, y_fit, y_val) -> tuple[np.ndarray, float]:
    """Probabilities of class 1 (validation, then test) of the class-balanced logistic regression
    whose penalty scores best on validation, fitted on the imaging set's orthogonal basis."""
    from scipy.special import expit
    from sklearn.metrics import balanced_accuracy_score

    lam, u, ku_new = design.eigen(imaging)
    keep = lam > 1e-10 * max(float(lam.max(initial=0.0)), 1e-300)
    root = np.sqrt(lam[keep])
    m_fit, m_new = design.metadata(blocks)
    x_fit = np.column_stack([u[:, keep] * root, m_fit])
    x_new = np.column_stack([ku_new[:, keep] / root, m_new, np.ones(len(ku_new))])
    best, best_score, best_c, w = None, -np.inf, np.nan, None
    for c in LOGISTIC_CS:  # increasing C: each fit starts from the one before
        w = _balanced_logistic(x_fit, y_fit, c, start=w)
        z = x_new @ w
        score = balanced_accuracy_score(y_val, (z[:design.n_val] > 0).astype(int))
        if score > best_score:
            best, best_score, best_c = expit(z), score, c
    return best, best_c


def _row(tgt: Target, inputs: InputSet, mode: str, scores: dict, extra: dict) -> dict:
    return {"Mode": mode, "Target": tgt.display, "Inputs": inputs.label, **scores, "Training time (mins)": 0.0,
            "Loss": np.nan, **inputs.flags(), "Domain": DOMAINS[tgt.domain].name, **extra}


def linear_peers(cache: Cache, pairs=None, progress: bool = False) -> pd.DataFrame:
    """The linear peer of every (target, input set) of ``pairs`` (default: the 700 of the grid),
    fitted on shared decompositions.

    Parameters
    ----------
    cache : Cache
        An opened cache (:func:`legibility.data.cache.build_cache`).
    pairs : list of (Target, InputSet), optional
    progress : bool
        A progress bar over the models.

    Returns
    -------
    DataFrame
        Two rows a model (``Mode`` ``Validation`` then ``Test``) in the published schema
        (:data:`PEER_COLUMNS`: the published columns, then the split sizes and the penalty chosen
        on validation), in the order of ``pairs``. The scores are those of
        :func:`legibility.linear.linear_peer`; a binary target with one class in its training
        rows scores NaN.
    """
    from tqdm.auto import tqdm

    pairs = list(grid() if pairs is None else pairs)
    designs: dict[tuple, _Design] = {}
    out = []
    for tgt, inputs in tqdm(pairs, desc="linear peers", unit="model", disable=not progress):
        rows = _model_rows(cache, tgt, inputs)
        key = tuple(r.tobytes() for r in rows.values())
        design = designs.get(key)
        if design is None:
            design = designs[key] = _Design(cache, rows)
        y = cache.table[tgt.key].to_numpy(np.float64)
        y_fit, y_val, y_new = y[design.fit], y[rows["val"]], y[design.new]
        sizes = {"n_train": len(rows["train"]), "n_val": len(rows["val"]), "n_test": len(rows["test"])}
        if tgt.is_binary and len(np.unique(y_fit)) < 2:
            nan = {"Balanced accuracy": np.nan, "r2": 0.0, "MAE": 0.0}
            out += [_row(tgt, inputs, m, nan, {**sizes, "penalty": np.nan}) for m in ("Validation", "Test")]
            continue
        fit = _logistic if tgt.is_binary else _ridge
        pred, penalty = fit(design, inputs.imaging, inputs.blocks, y_fit, y_val)
        median = float(np.median(y[rows["train"]]))
        for mode, part in (("Validation", slice(0, design.n_val)), ("Test", slice(design.n_val, None))):
            scores = (score_binary(y_new[part], pred[part]) if tgt.is_binary
                      else score_continuous(y_new[part], pred[part], median))
            out.append(_row(tgt, inputs, mode, scores, {**sizes, "penalty": penalty}))
    return pd.DataFrame(out, columns=list(PEER_COLUMNS))


def linear_peers_one_by_one(cache: Cache, pairs) -> pd.DataFrame:
    """The linear peer of each (target, input set) of ``pairs`` fitted on its own, as
    :func:`legibility.evaluation.evaluate_model` fits it (:func:`legibility.linear.linear_peer`):
    the reference the shared fit is checked and timed against. Columns: ``Mode``, ``Target``,
    ``Inputs``, ``Balanced accuracy``, ``r2``, ``MAE``, ``seconds``."""
    from legibility.data.model_data import ModelData
    from legibility.linear import linear_peer

    out = []
    for tgt, inputs in pairs:
        t0 = time.perf_counter()
        peer = linear_peer(ModelData(cache, tgt, inputs))
        seconds = time.perf_counter() - t0
        for mode, split in (("Validation", "val"), ("Test", "test")):
            p = peer[split]
            out.append({"Mode": mode, "Target": tgt.display, "Inputs": inputs.label,
                        "Balanced accuracy": p["balanced_accuracy"], "r2": p["r2"], "MAE": p["mae"],
                        "seconds": seconds})
    return pd.DataFrame(out)
