"""Are the ground-truth ceilings bounds? Checked by a learner the ceilings' code did not write.

For a set of (target, input set) cells, an off-the-shelf linear learner from scikit-learn is
trained on a synthetic cohort read from disk as a user would read it (NIfTI volumes, the
connectivity array, the metadata table), and its test score is set beside the cohort's
ground-truth ceiling (``ground_truth.csv``). A ceiling is a bound when no learner beats it by
more than the combined standard error of the two.

The learner: each volume z-scored within its brain and mean-pooled to 16^3 (T1 and FLAIR side by
side for structural imaging), each imaging block standardised and reduced to its first 200
principal components on the training split, the connectivity upper triangle likewise, the
metadata blocks as they are (the target's own domain left out, as the grid does); then ridge
regression (continuous targets) or class-balanced logistic regression (binary ones), the
penalty chosen by 5-fold cross-validation on the training split. Trained on ``TRAIN/``, scored
on every participant of ``TEST/``. Nothing of :mod:`legibility`'s training, caching or
ceiling code is used; only the on-disk layout and the study's definition of the domains.

The record in `benchmarks/results/bounds.md` is made on a cohort declared before it was read:
``legibility cohort --out DATA --n 3000 --side 32 --seed 2031`` (its 600 TEST/ participants
are the test set).

Usage::

    python benchmarks/bounds.py --inpath DATA [--out benchmarks/results/bounds]

writes ``bounds.csv`` and ``bounds.md`` (default ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.preprocessing import StandardScaler

from legibility import paths
from legibility.study import TARGETS, InputSet

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_KEYS = ("age", "weight", "sex", "body_fat", "hb", "hypertension", "worry")
MODALITY_SETS = (("t1", "flair"), ("dwi",), ("connectivity",),
                 ("t1", "flair", "dwi"), ("t1", "flair", "connectivity"), ("dwi", "connectivity"))
POOLED_SIDE = 16
COMPONENTS = 200


def _pooled(path: Path) -> np.ndarray:
    vol = np.asarray(nib.load(path).get_fdata(), np.float32)
    brain = vol > 0
    vol = np.where(brain, (vol - vol[brain].mean()) / (vol[brain].std() + 1e-6), 0.0)
    f = max(vol.shape[0] // POOLED_SIDE, 1)
    s = vol.shape[0] // f * f
    vol = vol[:s, :s, :s]
    return vol.reshape(s // f, f, s // f, f, s // f, f).mean(axis=(1, 3, 5)).ravel()


def read_cohort(inpath) -> dict:
    """Every participant's pooled volumes, connectivity triangle and metadata, by split.

    Returns
    -------
    dict
        ``{"train": {...}, "test": {...}}``, each with ``meta`` (DataFrame), ``t1``, ``flair``,
        ``dwi`` (n x voxels) and ``connectivity`` (n x edges).
    """
    out = {}
    for split, folder in paths.SPLIT_DIRS.items():
        meta = pd.read_csv(paths.metadata_path(inpath, folder))
        ids = meta.biobank_id.tolist()
        block = {"meta": meta}
        for m in ("t1", "flair", "dwi"):
            block[m] = np.stack([_pooled(paths.volume_path(inpath, folder, m, i)) for i in ids])
        npy, txt = paths.fmri_paths(inpath, folder)
        conn = np.load(npy)
        order = {int(x): k for k, x in enumerate(txt.read_text().split())}
        iu = np.triu_indices(conn.shape[1], k=1)
        block["connectivity"] = conn[[order[int(i)] for i in ids]][:, iu[0], iu[1]]
        out[split] = block
    return out


def _reduced(train: np.ndarray, test: np.ndarray):
    scale = StandardScaler().fit(train)
    a, b = scale.transform(train), scale.transform(test)
    k = min(COMPONENTS, a.shape[0] - 1, a.shape[1])
    pca = PCA(n_components=k, random_state=0).fit(a)
    return pca.transform(a), pca.transform(b)


def _features(data: dict, key: str, imaging, blocks):
    tr, te = data["train"], data["test"]
    parts_tr, parts_te = [], []
    structural = [m for m in ("t1", "flair") if m in imaging]
    groups = ([structural] if structural else []) + [[m] for m in ("dwi", "connectivity") if m in imaging]
    for g in groups:
        a, b = _reduced(np.hstack([tr[m] for m in g]), np.hstack([te[m] for m in g]))
        parts_tr.append(a)
        parts_te.append(b)
    cols = [t.key for t in TARGETS.values() if t.domain in blocks and t.domain != TARGETS[key].domain]
    if cols:
        scale = StandardScaler().fit(tr["meta"][cols].to_numpy(float))
        parts_tr.append(scale.transform(tr["meta"][cols].to_numpy(float)))
        parts_te.append(scale.transform(te["meta"][cols].to_numpy(float)))
    return np.hstack(parts_tr), np.hstack(parts_te)


def _bootstrap_se(y, pred, metric, n_boot=1000, seed=0) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), (n_boot, len(y)))
    return float(np.std([metric(y[i], pred[i]) for i in idx], ddof=1))


def learn(data: dict, key: str, imaging, blocks=()) -> dict:
    """Train the independent linear learner for one cell and score it on the test split."""
    x_tr, x_te = _features(data, key, imaging, blocks)
    y_tr = data["train"]["meta"][key].to_numpy()
    y_te = data["test"]["meta"][key].to_numpy()
    if TARGETS[key].is_binary:
        model = LogisticRegressionCV(Cs=np.logspace(-4, 1, 11), cv=5, class_weight="balanced",
                                     scoring="balanced_accuracy", max_iter=2000).fit(x_tr, y_tr)
        pred = model.predict(x_te)
        metric, name = balanced_accuracy_score, "Balanced accuracy"
        penalty = float(1 / model.C_[0])
    else:
        model = RidgeCV(alphas=np.logspace(-1, 5, 25), cv=5).fit(x_tr, y_tr)
        pred = model.predict(x_te)
        metric, name = r2_score, "r2"
        penalty = float(model.alpha_)
    return {"metric": name, "learner": float(metric(y_te, pred)),
            "learner_se": _bootstrap_se(y_te, pred, metric), "penalty": penalty,
            "n_train": len(y_tr), "n_test": len(y_te), "features": x_tr.shape[1]}


def cells(target_keys=TARGET_KEYS, modality_sets=MODALITY_SETS):
    """The (target key, imaging keys, metadata blocks) checked: every single modality and every
    pair, with the constitutional block for targets whose grid always holds it."""
    for key in target_keys:
        blocks = () if TARGETS[key].domain == "constitutional" else ("constitutional",)
        for imaging in modality_sets:
            yield key, imaging, blocks


def check_bounds(inpath, target_keys=TARGET_KEYS, modality_sets=MODALITY_SETS, progress=True) -> pd.DataFrame:
    """Each cell's learner score beside its ceiling, with the combined standard error."""
    inpath = Path(inpath)
    truth = pd.read_csv(inpath / paths.GROUND_TRUTH).set_index(["Target", "Inputs"])
    data = read_cohort(inpath)
    rows = []
    for key, imaging, blocks in cells(target_keys, modality_sets):
        label = InputSet(frozenset(imaging), frozenset(blocks)).label
        row = {"target": TARGETS[key].display, "inputs": label, **learn(data, key, imaging, blocks)}
        ceil = truth.loc[(row["target"], label)]
        row["ceiling"], row["ceiling_se"] = float(ceil[row["metric"]]), float(ceil["ceiling_se"])
        row["combined_se"] = float(np.hypot(row["learner_se"], row["ceiling_se"]))
        row["excess_in_se"] = (row["learner"] - row["ceiling"]) / row["combined_se"]
        rows.append(row)
        if progress:
            print(f"{row['target']:>14} | {label:<45} learner {row['learner']:.3f} "
                  f"ceiling {row['ceiling']:.3f} ({row['excess_in_se']:+.1f} SE)", flush=True)
    return pd.DataFrame(rows)


def write_record(table: pd.DataFrame, inpath, out: Path, seconds: float):
    info = json.loads((Path(inpath) / paths.COHORT_INFO).read_text())
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "bounds.csv", index=False)
    worst = table.excess_in_se.max()
    lines = [
        "# Are the ceilings bounds? An independent linear learner against them",
        "",
        f"Cohort: seed {info['seed']}, {info['n']} participants ({info['n_train']} in TRAIN/ for "
        f"training, all {info['n_test']} of TEST/ scored), {info['side']}^3, generator "
        f"{info['version']}; ground truth on {info['ceiling_n']:,} reference participants. "
        f"Made by `python benchmarks/bounds.py --inpath DATA` in {seconds / 60:.1f} min, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "Learner (scikit-learn, nothing of the project's training or ceiling code): volumes "
        "z-scored in the brain and mean-pooled to 16^3, each imaging block standardised and "
        "reduced to 200 principal components on the training split, metadata as it is; ridge or "
        "class-balanced logistic regression, penalty by 5-fold CV on the training split.",
        "",
        f"**Largest excess over a ceiling: {worst:+.2f} combined SE** "
        f"({'no cell above its ceiling by more than 2 SE' if worst <= 2 else 'A CEILING IS BEATEN'}).",
        "",
        "| target | inputs | metric | learner | SE | ceiling | SE | learner − ceiling | in combined SE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.target} | {r.inputs} | {'BA' if r.metric != 'r2' else 'R²'} | {r.learner:.3f} | "
                     f"{r.learner_se:.3f} | {r.ceiling:.3f} | {r.ceiling_se:.3f} | {r.learner - r.ceiling:+.3f} | "
                     f"{r.excess_in_se:+.1f} |")
    (out / "bounds.md").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inpath", required=True, help="a synthetic cohort in the paper's layout")
    ap.add_argument("--out", default=str(RESULTS), help="folder for bounds.csv and bounds.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = check_bounds(args.inpath)
    write_record(table, args.inpath, Path(args.out), time.perf_counter() - t0)
    print((Path(args.out) / "bounds.md").read_text())


if __name__ == "__main__":
    main()
