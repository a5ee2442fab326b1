"""The linear asymptote: what a linear learner on aligned voxels reaches with unlimited data.

The ceiling (:mod:`legibility.cohort.ground_truth`) is what the images carry. How much of it a
*linear* learner can read depends on how it is carried: an intensity change in a fixed region
is linear in the voxels, a boundary that moves by a few millimetres between heads is not. The
linear asymptote is the score of the best linear predictor built on the voxels, the limit a
ridge regression on them approaches as the training set grows.

Method
------
The learner it stands for is the simplest linear one on images: each volume z-scored within
its brain and mean-pooled to 16^3 (:func:`pooled`), the voxels inside the brain of at least 5%
of heads kept, each imaging group (T1 + FLAIR, DWI) standardised and reduced to
:data:`COMPONENTS` principal components, then a linear model with the metadata. With unlimited
data its predictions are ``L(y | v, meta)``, the linear projection of the target on the
components ``v`` and the metadata. The generator knows each modality's observation ``o`` of
every liability, and every image is a function of ``o`` and of nuisance that is independent of
everything else, so the projection factors through ``o``: it is computed as

1. a large image sample drawn from the generator (:func:`image_sample`, by default 6,000
   participants at 32^3, no files written);
2. ``ô = L(o | v)``: each modality's 25 observations projected on the components of the
   volumes that see them (least squares, out of fold: each fifth of the sample predicted by
   the fit on the rest); for binary characteristics, which are not linear in ``o``, their
   labels are projected too;
3. the ceiling's own fit (:func:`~legibility.cohort.ground_truth.ceiling`) with ``ô`` in place
   of ``o``: least squares or class-balanced logistic regression on ``ô`` and the metadata,
   fitted on one half and scored on the other, with its bootstrap standard error.

Connectivity enters as its observation itself (the connectivity matrix is linear in it up to
the sex term's sigmoid), so an input set without volumes has its ceiling as asymptote. The
result is a conservative estimate (a finite sample fits ``ô`` with some error); a linear learner
cannot beat the ceiling, so an estimate above it by sampling error is set to it, and like the
ceiling it never falls when inputs are added. It is the asymptote of the learner above, on
:data:`COMPONENTS` components: a ridge on all the pooled voxels can read more (age from T1 +
FLAIR at share 1: 0.79 from 4,000 heads against the estimate's 0.75; docs/ground_truth.md).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys

import numpy as np
import pandas as pd

from legibility.cohort import anatomy
from legibility.cohort.information import MODALITIES
from legibility.study import TARGETS

__all__ = ["COMPONENTS", "POOLED_SIDE", "cached_asymptotes", "image_sample", "linear_asymptotes",
           "pooled"]

POOLED_SIDE = 16
COMPONENTS = 200
MIN_BRAIN_SHARE = 0.05
FOLDS = 5
VOLUMES = ("t1", "flair", "dwi")
# Which observation each volume group is made from.
GROUPS = {"structural": ("t1", "flair"), "dwi": ("dwi",)}


def pooled(vol: np.ndarray, side: int = POOLED_SIDE) -> np.ndarray:
    """A volume z-scored within its brain (non-zero voxels) and mean-pooled to ``side``^3, flat."""
    vol = np.asarray(vol, np.float32)
    brain = vol > 0
    vol = np.where(brain, (vol - vol[brain].mean()) / (vol[brain].std() + 1e-6), 0.0)
    f = max(vol.shape[0] // side, 1)
    s = vol.shape[0] // f * f
    vol = vol[:s, :s, :s]
    return vol.reshape(s // f, f, s // f, f, s // f, f).mean(axis=(1, 3, 5)).ravel().astype(np.float32)


_JOB: dict = {}


def _one(i: int) -> dict[str, np.ndarray]:
    j = _JOB
    structural, dwi = j["brains"][i]
    vols = anatomy.synthesise(structural, dwi, j["side"], np.random.default_rng(j["seeds"][i]),
                              j["template"], j["world"])
    return {m: pooled(vols[m]) for m in VOLUMES}


def image_sample(n: int = 6000, side: int = 32, world: anatomy.World = anatomy.LINEAR, seed: int = 54321,
                 regions: int = 96, workers: int | None = None, progress: bool = False) -> dict:
    """Participants drawn from the generator with their volumes pooled to 16^3, in memory.

    Returns
    -------
    dict
        ``values`` (the 25 characteristics), ``obs`` (each modality's observations),
        ``liabilities``, and ``t1``, ``flair``, ``dwi``: ``n x 16^3`` pooled volumes.
    """
    from tqdm.auto import tqdm

    from legibility.cohort.ground_truth import reference_sample
    from legibility.cohort.writer import _brains

    values, obs, lia = reference_sample(n, seed)
    _JOB.clear()
    _JOB.update(brains=_brains(obs, regions), side=side, template=anatomy.template(regions), world=world,
                seeds=np.random.SeedSequence(seed).spawn(n))
    workers = workers or min(os.cpu_count() or 1, 8)
    bar = tqdm(total=n, desc="linear asymptote: image sample", unit="subj", disable=not progress)
    out = []
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            for vols in pool.imap(_one, range(n), chunksize=16):
                out.append(vols)
                bar.update()
    else:
        for i in range(n):
            out.append(_one(i))
            bar.update()
    bar.close()
    sample = {"values": values, "obs": obs, "liabilities": lia}
    for m in VOLUMES:
        sample[m] = np.stack([v[m] for v in out])
    return sample


def _components(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` standardised and projected on its first ``k`` principal components (no labels are
    used, so the whole sample is used)."""
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:k].T


def _out_of_fold(features: np.ndarray, target: np.ndarray, folds: int = FOLDS) -> np.ndarray:
    """Least-squares predictions of ``target`` (n x q) from ``features`` (n x p), each fold
    predicted by the fit on the others."""
    out = np.empty_like(target, dtype=float)
    a = np.column_stack([np.ones(len(features)), features])
    fold = np.arange(len(features)) % folds
    for f in range(folds):
        coef = np.linalg.lstsq(a[fold != f], target[fold != f], rcond=None)[0]
        out[fold == f] = a[fold == f] @ coef
    return out


def group_components(sample: dict, components: int = COMPONENTS,
                     min_share: float = MIN_BRAIN_SHARE) -> dict[str, np.ndarray]:
    """Each imaging group's voxels (those inside the brain of at least ``min_share`` of the
    sample) standardised and reduced to ``components`` principal components."""
    n = len(sample["values"])
    out = {}
    for group, members in GROUPS.items():
        x = np.hstack([sample[m] for m in members])
        x = x[:, (x != 0).mean(0) >= min_share]
        out[group] = _components(x, min(components, n // 2, x.shape[1]))
    return out


def projected_observations(sample: dict, volumes: frozenset, components: int = COMPONENTS,
                           min_share: float = MIN_BRAIN_SHARE, reduced: dict | None = None
                           ) -> dict[str, pd.DataFrame]:
    """``{modality: L(o | v)}`` for the modalities whose volumes are in ``volumes``, out of fold,
    ``v`` the components of every group of ``volumes`` together; the connectivity observation
    passes through unchanged.

    The first group's block also holds the projections of the binary characteristics' labels
    (``<key>_label``): a binary target is not linear in ``o``, and what a linear learner on the
    voxels can do for it is to project the label itself (once: a second copy in another group's
    block would be the same column twice). ``reduced``: :func:`group_components` of the sample,
    when already computed.
    """
    if reduced is None:
        reduced = group_components(sample, components, min_share)
    present = [g for g, members in GROUPS.items() if any(m in volumes for m in members)]
    if not present:
        raise ValueError(f"no imaging group among {sorted(volumes)}; expected some of {list(VOLUMES)}.")
    if not all(set(GROUPS[g]) <= set(volumes) for g in present):
        raise ValueError(f"T1 and FLAIR enter together (one structural group); got {sorted(volumes)}.")
    v = np.hstack([reduced[g] for g in present])
    binary = [t.key for t in TARGETS.values() if t.is_binary]
    out = {"connectivity": sample["obs"]["connectivity"]}
    for i, group in enumerate(present):
        o = sample["obs"][group]
        cols, targets = list(o.columns), [o.to_numpy()]
        if i == 0:
            cols += [f"{k}_label" for k in binary]
            targets.append(sample["values"][binary].to_numpy(float))
        out[group] = pd.DataFrame(_out_of_fold(v, np.column_stack(targets)), columns=cols, index=o.index)
    return out


def linear_asymptotes(sample: dict, pairs, ceilings: pd.DataFrame | None = None,
                      progress: bool = False) -> pd.DataFrame:
    """The linear asymptote of each (target, input set) in ``pairs``.

    Parameters
    ----------
    sample : dict
        From :func:`image_sample`.
    pairs : list of (Target, InputSet)
    ceilings : DataFrame, optional
        The ceilings of the same pairs (``Target``, ``Inputs`` and the metric columns); where
        given, each asymptote is capped at its ceiling.

    Returns
    -------
    DataFrame
        ``Target``, ``Inputs``, ``linear_asymptote`` (balanced accuracy or R²) and
        ``linear_asymptote_se``.
    """
    from tqdm.auto import tqdm

    from legibility.cohort.ground_truth import ceiling, monotone

    projected, reduced = {}, None
    scores = []
    for tgt, inputs in tqdm(pairs, desc="linear asymptotes", unit="model", disable=not progress):
        volumes = frozenset(inputs.imaging) & set(VOLUMES)
        if volumes and volumes not in projected:
            reduced = reduced or group_components(sample)
            projected[volumes] = projected_observations(sample, volumes, reduced=reduced)
        obs = projected[volumes] if volumes else sample["obs"]
        scores.append(ceiling(sample["values"], obs, tgt, inputs, sample["liabilities"]))
    rows = []
    for (tgt, inputs), score in zip(pairs, monotone(pairs, scores), strict=True):
        metric = "Balanced accuracy" if tgt.is_binary else "r2"
        rows.append({"Target": tgt.display, "Inputs": inputs.label, "linear_asymptote": score[metric],
                     "linear_asymptote_se": score["ceiling_se"], "metric": metric})
    table = pd.DataFrame(rows)
    if ceilings is not None:
        ceil = ceilings.set_index(["Target", "Inputs"])
        cap = [float(ceil.loc[(t, i), m]) for t, i, m in zip(table.Target, table.Inputs, table.metric, strict=True)]
        table["linear_asymptote"] = np.minimum(table.linear_asymptote, cap)
    return table.drop(columns="metric")


ASYMPTOTE_MODULES = ("legibility.cohort.anatomy", "legibility.cohort.writer", "legibility.cohort.asymptote",
                     "legibility.cohort.connectome")


def asymptote_fingerprint(world: anatomy.World, n: int, side: int, regions: int, seed: int) -> str:
    """A short hash of the ceilings' fingerprint, the image generator's sources and the sample."""
    from legibility.cohort.ground_truth import _module_source, generator_fingerprint

    h = hashlib.sha256(generator_fingerprint(20_000, 12345).encode())
    for name in ASYMPTOTE_MODULES:
        h.update(name.encode() + b"\0" + _module_source(name) + b"\0")
    h.update(json.dumps({"world": world.kind, "shape_share": world.shape_share, "anatomy_mm": world.anatomy_mm,
                         "diffeomorphic": world.diffeomorphic,
                         "n": n, "side": side, "regions": regions, "seed": seed, "modalities": MODALITIES},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def cached_asymptotes(ceilings: pd.DataFrame, world: anatomy.World, n: int = 6000, side: int = 32,
                      regions: int = 96, seed: int = 54321, workers: int | None = None,
                      progress: bool = False) -> pd.DataFrame:
    """``ceilings`` (a ground-truth table) with the ``linear_asymptote`` columns added, computed
    once per generator, world and sample and kept in the user cache."""
    from legibility.files import recorded_damage, write_recorded
    from legibility.paths import user_cache
    from legibility.study import parse_inputs_label, target

    key = asymptote_fingerprint(world, n, side, regions, seed)
    path = user_cache() / f"linear_asymptote-{key}.csv"
    table = None
    if path.exists():
        problem = recorded_damage(path)
        if problem is None:
            table = pd.read_csv(path)
        else:
            print(f"The linear-asymptote cache {path} {problem}; it is computed again.", file=sys.stderr,
                  flush=True)
    if table is None:
        pairs = [(target(t), parse_inputs_label(i)) for t, i in zip(ceilings.Target, ceilings.Inputs, strict=True)]
        sample = image_sample(n, side, world, seed, regions, workers, progress)
        table = linear_asymptotes(sample, pairs, ceilings, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_recorded(path, table.to_csv(index=False))
    out = ceilings.drop(columns=["linear_asymptote", "linear_asymptote_se"], errors="ignore")
    return out.merge(table, on=["Target", "Inputs"], how="left", validate="one_to_one")
