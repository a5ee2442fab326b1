"""The anatomical world's bounds at n_train 4,000: a linear learner, the linear asymptote, an
oracle that knows the mechanism, and the ceiling.

On one declared cohort (:data:`DECLARED`, fixed in a commit before the cohort was generated or
read: 5,000 participants, 4,000 in ``TRAIN/`` and 1,000 in ``TEST/``, at 32^3, the anatomical
world at the default shape share), for age, weight and sex from T1 + FLAIR:

- **linear learner**: the independent learner of ``benchmarks/bounds.py`` (volumes z-scored,
  pooled to 16^3, 200 principal components, ridge or class-balanced logistic regression with
  a cross-validated penalty), trained on ``TRAIN/``, scored on every ``TEST/`` participant;
- **linear asymptote** and **ceiling**: the cohort's ``ground_truth.csv``;
- **oracle**: a learner that knows how the generator imprints the images, as a perfect
  registration to the template and a perfect atlas would (tensor-based morphometry plus
  regional intensities): for each of the 96 template regions, the mean log-Jacobian of the
  head's deformation to the template within the region (boundaries moved: volume change)
  and the mean T1 and FLAIR intensity within the region, plus each volume's brain mean.
  The deformation is the generator's own, replayed from the cohort's seed; the volumes are
  the written ones (regenerated; checked against the written files). The same linear learners on these 290 features.
- **oracle with the nuisance basis**: the same features plus what the mechanism says the
  individual anatomy can do to the log-Jacobian map. That anatomy is a smooth field of cosine
  modes 1..4 on each axis, so its log-Jacobian lies, to first order, in the span of its
  divergence: 192 products of a sine along one axis and cosines along the other two, plus a
  constant. The head's log-Jacobian map, projected on those 193 functions within its brain
  (least squares), gives 193 more features, from which a linear learner can subtract the part
  of each region's mean that the individual anatomy put there. It knows the form of the
  nuisance, never its draw.

Nothing of the ceilings' or the asymptote's code is used by the learners. Scores are test
scores: nothing is chosen on them (each penalty by 5-fold cross-validation on ``TRAIN/``).

Usage::

    python benchmarks/anatomical_bounds.py --data DIR   # generates DIR if absent, then measures
    python benchmarks/anatomical_bounds.py --suite v2 --data DIR   # a benchmark suite's cohort instead

writes ``benchmarks/results/anatomical_bounds.md`` and ``.csv`` (``anatomical_bounds_<suite>.*``
with ``--suite``). A suite's ``TEST/`` folder holds its validation and test participants: all of
them are scored, as nothing is chosen on them.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler

from legibility import paths
from legibility.cohort import anatomy
from legibility.study import TARGETS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# The cohort, declared before it was generated: `legibility cohort --out DIR --n 5000 --side 32
# --seed 2412 --world anatomical --anatomy_mm 3 --plain_anatomy` (shape share 1.0, the individual
# anatomy of suite v1; 96 regions; ceilings on 20,000 reference participants; linear asymptotes on a
# 6,000-participant image sample).
DECLARED = {"n": 5000, "side": 32, "seed": 2412, "world": "anatomical", "shape_share": 1.0, "regions": 96,
            **anatomy.V1_ANATOMY}
TARGET_KEYS = ("age", "weight", "sex")


def _module(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the oracle's features ------------------------------------------------------------------

_JOB: dict = {}


def _log_jacobian(ijk: np.ndarray, side: int) -> np.ndarray:
    """log |det d(template voxel)/d(head voxel)| on the head's grid: how much template volume
    one voxel of this head holds (negative where a region grew)."""
    x = ijk.reshape(3, side, side, side)
    jac = np.stack([np.stack(np.gradient(x[a]), axis=0) for a in range(3)])  # (3, 3, s, s, s)
    det = np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))
    return np.log(np.clip(np.abs(det), 1e-3, None))


def _regional_means(values: np.ndarray, labels: np.ndarray, brain: np.ndarray, n: int) -> np.ndarray:
    lab = labels[brain]
    sums = np.bincount(lab, weights=values[brain], minlength=n + 1)[1:]
    counts = np.bincount(lab, minlength=n + 1)[1:]
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


@functools.lru_cache(maxsize=2)
def _nuisance_basis(side: int) -> np.ndarray:
    """(1 + 3 K^3, side^3): a constant and the divergence of each cosine mode of the individual
    anatomy (``anatomy.ANATOMY_MODES`` = K a side) on the output grid, where the head lies."""
    t = (np.arange(side) + 0.5) / side
    k = np.arange(1, anatomy.ANATOMY_MODES + 1)[:, None]
    cos, sin = np.cos(np.pi * k * t), np.sin(np.pi * k * t)
    out = [np.ones(side**3)]
    for d in range(3):
        f = [sin if a == d else cos for a in range(3)]
        out += [np.einsum("i,j,k->ijk", f[0][a], f[1][b], f[2][c]).ravel()
                for a in range(len(k)) for b in range(len(k)) for c in range(len(k))]
    return np.stack(out)


def _oracle_one(i: int) -> np.ndarray:
    j = _JOB
    seen = []
    original = anatomy._tissues

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    anatomy._tissues = spy
    try:
        structural, dwi = j["brains"][i]
        vols = anatomy.synthesise(structural, dwi, j["side"], np.random.default_rng(j["seeds"][i]),
                                  j["template"], j["world"])
    finally:
        anatomy._tissues = original
    tissues = seen[0]  # the structural view (T1, FLAIR)
    side, tpl = j["side"], j["template"]
    labels = anatomy._sample(tpl.regions, tissues["ijk"], (side,) * 3, order=0).astype(np.int64).ravel()
    brain = (vols["t1"].ravel() > 0) & (labels > 0)
    logj = _log_jacobian(tissues["ijk"], side).ravel()
    n = int(tpl.regions.max())
    feats = [_regional_means(logj, labels, brain, n)]
    for m in ("t1", "flair"):
        v = vols[m].ravel()
        v = (v - v[brain].mean()) / (v[brain].std() + 1e-6)
        feats.append(_regional_means(v, labels, brain, n))
        feats.append([vols[m].ravel()[brain].mean()])
    basis = _nuisance_basis(side)[:, brain]  # least squares by its normal equations (193 columns, well conditioned)
    feats.append(np.linalg.solve(basis @ basis.T, basis @ logj[brain]))  # the nuisance basis, last
    return np.concatenate(feats).astype(np.float32)


def oracle_features(inpath: Path, workers: int = 2, settings: dict = DECLARED) -> tuple[pd.Series, np.ndarray]:
    """Each participant's oracle features, replayed from the cohort's seed, in the generator's
    order, and each id's row in them. The replay is checked against the written T1 of one
    participant of each split (bit for bit)."""
    from legibility.cohort.writer import _brains, draw_participants

    d = settings
    _, _, _, _, obs, ids = draw_participants(d["n"], d["seed"])
    _JOB.clear()
    _JOB.update(brains=_brains(obs, d["regions"]), side=d["side"], template=anatomy.template(d["regions"]),
                world=anatomy.World(d["world"], d["shape_share"], d["anatomy_mm"], d["diffeomorphic"]),
                seeds=np.random.SeedSequence(d["seed"]).spawn(d["n"]))
    order = pd.Series(np.arange(d["n"]), index=ids)
    _check_replay(inpath, order)
    with mp.get_context("fork").Pool(workers) as pool:
        feats = np.stack(pool.map(_oracle_one, range(d["n"]), chunksize=32))
    return order, feats


def _check_replay(inpath: Path, order: pd.Series):
    import nibabel as nib

    j = _JOB
    for folder in paths.SPLIT_DIRS.values():
        pid = int(pd.read_csv(paths.metadata_path(inpath, folder)).biobank_id.iloc[0])
        i = int(order.loc[pid])
        structural, dwi = j["brains"][i]
        vols = anatomy.synthesise(structural, dwi, j["side"], np.random.default_rng(j["seeds"][i]),
                                  j["template"], j["world"])
        disk = np.asarray(nib.load(paths.volume_path(inpath, folder, "t1", pid)).dataobj)
        if not np.array_equal(disk, np.clip(np.round(vols["t1"] * 1000.0), 0, 32767).astype(np.int16)):
            raise RuntimeError(f"The replay of participant {pid} differs from {inpath}: not the declared cohort.")


def _fit_score(x_tr, y_tr, x_te, y_te, binary: bool, bounds) -> dict:
    scale = StandardScaler().fit(x_tr)
    x_tr, x_te = scale.transform(x_tr), scale.transform(x_te)
    if binary:
        model = LogisticRegressionCV(Cs=np.logspace(-4, 1, 11), cv=5, class_weight="balanced",
                                     scoring="balanced_accuracy", max_iter=2000).fit(x_tr, y_tr)
        metric = balanced_accuracy_score
    else:
        model = RidgeCV(alphas=np.logspace(-3, 5, 33), cv=5).fit(x_tr, y_tr)
        metric = r2_score
    pred = model.predict(x_te)
    return {"score": float(metric(y_te, pred)), "se": bounds._bootstrap_se(y_te, pred, metric)}


def oracle_scores(inpath: Path, workers: int = 2, settings: dict = DECLARED) -> pd.DataFrame:
    bounds = _module("bounds")
    order, feats = oracle_features(inpath, workers, settings)
    split = {s: pd.read_csv(paths.metadata_path(inpath, f)) for s, f in paths.SPLIT_DIRS.items()}
    x = {s: feats[order.loc[m.biobank_id].to_numpy()] for s, m in split.items()}
    regional = feats.shape[1] - len(_nuisance_basis(settings["side"]))
    rows = []
    for key in TARGET_KEYS:
        row = {"target": TARGETS[key].display}
        for name, cols in (("oracle", slice(0, regional)), ("oracle_basis", slice(None))):
            r = _fit_score(x["train"][:, cols], split["train"][key].to_numpy(), x["test"][:, cols],
                           split["test"][key].to_numpy(), TARGETS[key].is_binary, bounds)
            row |= {name: r["score"], f"{name}_se": r["se"], f"{name}_features": feats[:, cols].shape[1]}
        rows.append(row)
    return pd.DataFrame(rows)


def measure(inpath: Path, workers: int, settings: dict = DECLARED) -> pd.DataFrame:
    world = _module("anatomical_world")
    truth = pd.read_csv(inpath / paths.GROUND_TRUTH).set_index(["Target", "Inputs"])
    rows = []
    for key in TARGET_KEYS:
        row = world.score_against_ceiling(inpath, key)
        t = truth.loc[(row["target"], "FLAIR + T1")]
        row["linear_asymptote"], row["linear_asymptote_se"] = float(t.linear_asymptote), float(t.linear_asymptote_se)
        rows.append(row)
    return pd.DataFrame(rows).merge(oracle_scores(inpath, workers, settings), on="target")


def settings_of(suite_name: str | None) -> dict:
    """The cohort's generator settings: :data:`DECLARED`, or benchmark suite ``suite_name``'s."""
    if suite_name is None:
        return DECLARED
    from legibility.benchmark import suite

    s = suite(suite_name).cohort_settings()
    return {k: s[k] for k in ("n", "side", "seed", "world", "shape_share", "anatomy_mm", "diffeomorphic")} | {
        "regions": DECLARED["regions"], "ceiling_n": s["ceiling_n"], "asymptote_n": s["asymptote_n"]}


def report(df: pd.DataFrame, seconds: float, suite_name: str | None = None) -> str:
    d = settings_of(suite_name)
    anatomy_flags = f"--anatomy_mm {d['anatomy_mm']:g}" + ("" if d["diffeomorphic"] else " --plain_anatomy")
    where = (f"Suite {suite_name}'s cohort (`legibility benchmark --suite {suite_name}`; "
             if suite_name else "Cohort declared before it was generated: (")
    command = "python benchmarks/anatomical_bounds.py" + (f" --suite {suite_name}" if suite_name else "")
    lines = ["# The anatomical world's bounds at n_train 4,000", "",
             f"{where}`legibility cohort --n {d['n']} --side {d['side']} --seed {d['seed']} --world anatomical "
             f"{anatomy_flags}`, shape share {d['shape_share']:g}, {d['regions']} regions): "
             f"{int(df.n_train.iloc[0]):,} TRAIN, {int(df.n_test.iloc[0]):,} TEST participants, all of TEST scored. "
             f"`{command} --data DIR`, {seconds / 60:.0f} min on 2 cores. T1 + FLAIR, "
             "no metadata; R² for age and weight, balanced accuracy for sex; SE: bootstrap of the test set "
             "(ceiling and asymptote: of their own held-out halves).", "",
             "| target | linear learner (SE) | linear asymptote (SE) | oracle (SE) | oracle with the nuisance basis "
             "(SE) | ceiling (SE) | ceiling − learner | oracle − ceiling in SE | with the basis, in SE |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        gap = [(o - r.ceiling) / np.hypot(se, r.ceiling_se) for o, se in ((r.oracle, r.oracle_se),
                                                                         (r.oracle_basis, r.oracle_basis_se))]
        lines.append(f"| {r.target} | {r.learner:.3f} ({r.learner_se:.3f}) | {r.linear_asymptote:.3f} "
                     f"({r.linear_asymptote_se:.3f}) | {r.oracle:.3f} ({r.oracle_se:.3f}) | {r.oracle_basis:.3f} "
                     f"({r.oracle_basis_se:.3f}) | {r.ceiling:.3f} ({r.ceiling_se:.3f}) | {r.ceiling - r.learner:.3f} "
                     f"| {gap[0]:+.1f} | {gap[1]:+.1f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="the declared cohort (generated here if absent)")
    p.add_argument("--suite", default=None, help="measure a benchmark suite's cohort (generated there if absent)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    t0 = time.perf_counter()
    settings = settings_of(args.suite)
    if args.suite is not None:
        from legibility.benchmark import prepare_cohort, suite

        prepare_cohort(suite(args.suite), args.data, workers=args.workers)
    elif not (args.data / paths.GROUND_TRUTH).exists():
        from legibility.cohort.writer import generate_cohort

        generate_cohort(args.data, workers=args.workers, **DECLARED)
    df = measure(args.data, args.workers, settings)
    RESULTS.mkdir(exist_ok=True)
    name = "anatomical_bounds" + (f"_{args.suite}" if args.suite else "")
    df.to_csv(RESULTS / f"{name}.csv", index=False)
    text = report(df, time.perf_counter() - t0, args.suite)
    page = RESULTS / f"{name}.md"
    kept = "".join(page.read_text().partition("\n## Reading")[1:]) if page.exists() else ""
    page.write_text(text + kept)  # a written reading stays
    print(text)


if __name__ == "__main__":
    main()
