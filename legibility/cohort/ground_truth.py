"""Ground-truth ceilings: how legible each target truly is from each input set.

Method
------
The generator knows what it put into each input: the metadata columns themselves, and for
each imaging modality its observation ``o`` of every characteristic's liability
(:mod:`legibility.cohort.information`); everything else in the images is nuisance. So we draw
a large independent sample of participants from the same generator (no images needed),
give a well-specified model exactly the information an input set carries (the ``o`` of its
modalities plus its metadata blocks, the target's own domain never included) and score it
on a held-out half with the same metrics as the deep models. The latent model is
linear-Gaussian in the liabilities, so a linear model is the right one: least squares for
continuous targets, class-balanced logistic regression for binary ones. Two characteristics
are a nonlinear map of their liability (HbA1c and reaction time, right-skewed:
:data:`~legibility.cohort.characteristics.LINKS`); for them a linear fit in original units is
not the best predictor, so the ceiling fits the liability instead (least squares, Gaussian
residual) and predicts the conditional mean of the known map, ``E[f(g) | x]``, by
Gauss-Hermite quadrature. The ceiling's test score carries sampling error: its bootstrap
standard error over the held-out half is reported beside it (``ceiling_se``; about 0.005 on
10,000 held-out participants, 0.01 on 2,500).

A perfect learner can ignore an input, so a ceiling never falls when inputs are added: each
(target, input set) of a table takes the best held-out score over itself and every input set
of the table that it contains (same target). Without this, fitting extra uninformative
features on a finite sample could put a superset a little below its subset.

The ceilings are cached under a key that hashes the sources of every module they depend on
(the latent model, the modality information, this file, the metrics, the study's grid) and the
parameters, so an edit to the generator never reuses stale ceilings.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from legibility.cohort.characteristics import LINKS, draw_latents, make_characteristics
from legibility.cohort.information import MODALITIES, MODALITY_OF_INPUT, RHO2, observe
from legibility.files import recorded_damage, write_recorded
from legibility.metrics import bootstrap_se, score_binary, score_continuous
from legibility.study import DOMAINS, METRIC_COLUMNS, TARGETS, InputSet, Target, grid

__all__ = ["cached_ceilings", "ceiling", "ceilings", "generator_fingerprint", "reference_sample"]


def reference_sample(n: int = 40_000, seed: int = 12345, rho2=None):
    """Characteristics, modality observations and liabilities of ``n`` participants (no images).

    Returns
    -------
    values : DataFrame
        The 25 characteristics in original units.
    obs : dict
        ``{modality: DataFrame}``, each modality's observation of every liability.
    liabilities : DataFrame
        The liabilities (what the nonlinear characteristics are a map of).
    """
    rng = np.random.default_rng(seed)
    lat = draw_latents(n, rng)
    values, lia = make_characteristics(lat, rng)
    return values, observe(lia, rng, rho2), lia


def _features(values, obs, tgt: Target, inputs: InputSet) -> np.ndarray:
    cols = []
    for m in sorted({MODALITY_OF_INPUT[k] for k in inputs.imaging}, key=MODALITIES.index):
        cols.append(obs[m].to_numpy())
    for block in sorted(inputs.blocks):
        if block == tgt.domain:
            continue  # the target's own domain block is zeroed
        keys = [t.key for t in TARGETS.values() if t.domain == block and t.key != tgt.key]
        cols.append(values[keys].to_numpy(dtype=float))
    return np.concatenate(cols, axis=1)


_HERMITE_X, _HERMITE_W = np.polynomial.hermite_e.hermegauss(40)  # nodes/weights for N(0, 1)


def _conditional_mean_of_link(link, mean: np.ndarray, sd: float) -> np.ndarray:
    """``E[link(g)]`` for ``g ~ N(mean, sd^2)``, by Gauss-Hermite quadrature (exact to ~1e-12
    for the smooth maps used here)."""
    g = mean[:, None] + sd * _HERMITE_X[None, :]
    return (link(g) * _HERMITE_W).sum(1) / _HERMITE_W.sum()


def _least_squares(x: np.ndarray, y: np.ndarray, x_new: np.ndarray):
    """Ordinary least squares with an intercept on standardised ``x``, by the normal
    equations (well conditioned here, and far faster than an SVD on a busy machine).

    Returns the fitted values on ``x`` and the predictions on ``x_new``.
    """
    a = np.column_stack([np.ones(len(x)), x])
    coef = np.linalg.solve(a.T @ a, a.T @ y)
    return a @ coef, np.column_stack([np.ones(len(x_new)), x_new]) @ coef


def ceiling(values, obs, tgt: Target, inputs: InputSet, liabilities=None) -> dict:
    """Score of the best predictor the generator allows for one (target, input set), fitted on
    the first half and scored on the second, plus ``ceiling_se``: the bootstrap standard error
    of the main metric (balanced accuracy or R²) over the held-out half."""
    x = _features(values, obs, tgt, inputs)
    y = values[tgt.key].to_numpy()
    half = len(y) // 2
    x = (x - x[:half].mean(0)) / (x[:half].std(0) + 1e-12)
    if tgt.is_binary:
        # Class-balanced: the decision rule balanced accuracy asks for. (LDA is faster but its
        # pooled covariance misplaces the sex boundary: 0.96 where a threshold reaches 0.995.)
        model = LogisticRegression(class_weight="balanced", C=100.0, max_iter=1000)
        model.fit(x[:half], y[:half])
        prob = model.predict_proba(x[half:])[:, 1]
        out = score_binary(y[half:], prob)
        out["ceiling_se"] = bootstrap_se(y[half:], (prob >= 0.5).astype(float), "balanced_accuracy")
        return out
    if tgt.key in LINKS and liabilities is not None:
        g = liabilities[tgt.key].to_numpy()
        fitted, pred_g = _least_squares(x[:half], g[:half], x[half:])
        sd = float(np.std(g[:half] - fitted))
        pred = _conditional_mean_of_link(LINKS[tgt.key], pred_g, sd)
    else:
        pred = _least_squares(x[:half], y[:half], x[half:])[1]
    out = score_continuous(y[half:], pred, float(np.median(y[:half])))
    out["ceiling_se"] = bootstrap_se(y[half:], pred, "r2")
    return out


def ceilings(n: int = 40_000, seed: int = 12345, rho2=None, pairs=None,
             progress: bool = False) -> pd.DataFrame:
    """The ceiling of every (target, input set) of the grid, in the published schema."""
    values, obs, lia = reference_sample(n, seed, rho2)
    pairs = list(grid() if pairs is None else pairs)
    from tqdm.auto import tqdm

    scores = [ceiling(values, obs, tgt, inputs, lia)
              for tgt, inputs in tqdm(pairs, desc="ground-truth ceilings", unit="model", disable=not progress)]
    rows = []
    for (tgt, inputs), score in zip(pairs, monotone(pairs, scores), strict=True):
        row = {"Mode": "Ceiling", "Target": tgt.display, "Inputs": inputs.label}
        row.update(score)
        row.update({"Training time (mins)": 0.0, "Loss": np.nan})
        row.update(inputs.flags())
        row["Domain"] = DOMAINS[tgt.domain].name
        rows.append(row)
    return pd.DataFrame(rows, columns=[*METRIC_COLUMNS, "ceiling_se"])


def _contains(big: InputSet, small: InputSet) -> bool:
    return small.imaging <= big.imaging and small.blocks <= big.blocks


def monotone(pairs, scores: list[dict]) -> list[dict]:
    """Each pair's scores replaced by those of its best sub-input-set among ``pairs``.

    Parameters
    ----------
    pairs : list of (Target, InputSet)
    scores : list of dict
        The :func:`ceiling` of each pair, in the same order.

    Returns
    -------
    list of dict
        For each pair, the scores of the pair with the highest main metric (balanced accuracy
        or R²) among those of the same target whose input set it contains (itself included).
    """
    out = []
    for tgt, inputs in pairs:
        metric = tgt.metric
        subs = [j for j, (t, s) in enumerate(pairs) if t.key == tgt.key and _contains(inputs, s)]
        out.append(scores[max(subs, key=lambda j: scores[j][metric])])
    return out


# The modules whose code decides the ceilings: the latent model, what each modality observes,
# this file, the scoring and the study's grid. Their sources are hashed into the cache key.
FINGERPRINT_MODULES = ("legibility.cohort.characteristics", "legibility.cohort.information",
                       "legibility.cohort.ground_truth", "legibility.metrics", "legibility.study")


def _module_source(name: str) -> bytes:
    import importlib.util

    return open(importlib.util.find_spec(name).origin, "rb").read()  # noqa: SIM115


def generator_fingerprint(n: int, seed: int, rho2=None) -> str:
    """A short hash of everything the ceilings depend on: the sources of
    :data:`FINGERPRINT_MODULES`, ``rho^2`` and the sample's size and seed."""
    h = hashlib.sha256()
    for name in FINGERPRINT_MODULES:
        h.update(name.encode() + b"\0" + _module_source(name) + b"\0")
    h.update(json.dumps({"rho2": RHO2 if rho2 is None else rho2, "n": n, "seed": seed}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def cached_ceilings(n: int = 20_000, seed: int = 12345, progress: bool = False) -> pd.DataFrame:
    """:func:`ceilings`, computed once per generator version and kept in the user cache."""
    from legibility.paths import user_cache

    path = user_cache() / f"ground_truth-{generator_fingerprint(n, seed)}.csv"
    if path.exists():
        problem = recorded_damage(path)
        if problem is None:
            return pd.read_csv(path)
        print(f"The ceilings cache {path} {problem}; it is computed again.", file=sys.stderr, flush=True)
    table = ceilings(n=n, seed=seed, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_recorded(path, table.to_csv(index=False))
    return table
