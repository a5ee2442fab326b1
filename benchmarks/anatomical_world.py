"""The anatomical world: what it costs to generate, and how much a linear learner loses to shape.

Two measurements, written to ``benchmarks/results/anatomical_world.md`` (and ``.csv``):

1. Generation time per participant (T1, FLAIR and DWI volumes, in memory, one process and one
   BLAS thread) at 32^3 and 64^3, in the linear world and in the anatomical one.
2. The independent linear learner of ``benchmarks/bounds.py`` (volumes z-scored, mean-pooled to
   16^3, 200 principal components, ridge with a cross-validated penalty) reading age, weight and
   sex from T1 + FLAIR, on cohorts of the same participants (same seed) in the linear world and
   in the anatomical world at several shape shares, beside the ground-truth ceiling (which does
   not depend on the world). The voxels are restricted to an analysis mask first
   (:func:`analysis_mask`): where heads differ by several mm, a border voxel inside the brain of
   one training participant in a thousand gets a near-zero SD, and a test brain reaching it is
   standardised to thousands of SDs and predicted absurdly.

Usage::

    python benchmarks/anatomical_world.py [--n 800] [--side 16] [--seed 21] [--workers 2]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from legibility import paths  # noqa: E402
from legibility.cohort import anatomy  # noqa: E402
from legibility.cohort.writer import generate_cohort  # noqa: E402
from legibility.study import TARGETS, InputSet  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
TARGET_KEYS = ("age", "weight", "sex")


def _bounds_module():
    spec = importlib.util.spec_from_file_location("bounds", HERE / "bounds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_generation(sides=(32, 64), repeats=(10, 4), rounds=5) -> pd.DataFrame:
    """Seconds per participant of :func:`legibility.cohort.anatomy.synthesise`, one process:
    the worlds alternate within each round, and the best and median round are kept (the
    machine is shared, so the best round is the closer to the cost itself)."""
    tpl = anatomy.template(96)
    rng = np.random.default_rng(0)
    brain = anatomy.SubjectBrain(age=70.0, male=1.0, weight_z=0.5, body_fat_z=0.0, hypertension_z=0.0,
                                 smoking_z=0.0, code=rng.normal(0, 0.08, 96))
    worlds = (anatomy.World(), anatomy.World("anatomical", anatomy.DEFAULT_SHAPE_SHARE, **anatomy.V1_ANATOMY),
              anatomy.World("anatomical", anatomy.DEFAULT_SHAPE_SHARE))
    rows = []
    for side, k in zip(sides, repeats, strict=True):
        times = {w: [] for w in worlds}
        for w in worlds:
            anatomy.synthesise(brain, brain, side, np.random.default_rng(0), tpl, w)  # warm caches
        for r in range(rounds):
            for w in worlds:
                t0 = time.perf_counter()
                for i in range(k):
                    anatomy.synthesise(brain, brain, side, np.random.default_rng(100 * r + i), tpl, w)
                times[w].append((time.perf_counter() - t0) / k)
        for w, t in times.items():
            rows.append({"side": side, "world": w.kind, "shape_share": w.shape_share, "anatomy_mm": w.anatomy_mm,
                         "diffeomorphic": w.diffeomorphic,
                         "seconds_best": min(t), "seconds_median": float(np.median(t))})
    return pd.DataFrame(rows)


def analysis_mask(data: dict, min_share: float = 0.05) -> dict:
    """``data`` (as :func:`bounds.read_cohort` returns it) with each volume's voxels restricted to
    those inside the brain in at least ``min_share`` of the training participants."""
    out = {split: dict(block) for split, block in data.items()}
    for m in ("t1", "flair", "dwi"):
        keep = (data["train"][m] != 0).mean(axis=0) >= min_share
        for split in out:
            out[split][m] = data[split][m][:, keep]
    return out


def score_against_ceiling(inpath, key: str, imaging=("t1", "flair")) -> dict:
    """The bounds learner's score for ``key`` from ``imaging`` (no metadata) on the cohort at
    ``inpath``, within the analysis mask, beside the cohort's ground-truth ceiling."""
    bounds = _bounds_module()
    inpath = Path(inpath)
    row = {"target": TARGETS[key].display,
           **bounds.learn(analysis_mask(bounds.read_cohort(inpath)), key, imaging)}
    label = InputSet(frozenset(imaging), frozenset()).label
    truth = pd.read_csv(inpath / paths.GROUND_TRUTH).set_index(["Target", "Inputs"]).loc[(row["target"], label)]
    row["ceiling"], row["ceiling_se"] = float(truth[row["metric"]]), float(truth["ceiling_se"])
    return row


def learner_by_share(n: int, side: int, seed: int, workers: int, shares=SHARES) -> pd.DataFrame:
    """The bounds learner's T1 + FLAIR scores in the linear world and at each shape share (the
    individual anatomy of suite v1)."""
    rows = []
    worlds = [("linear", None)] + [("anatomical", s) for s in shares]
    with tempfile.TemporaryDirectory() as tmp:
        for world, share in worlds:
            out = Path(tmp) / f"{world}-{share}"
            t0 = time.perf_counter()
            generate_cohort(out, n=n, side=side, seed=seed, regions=32, nodes=12, ceiling_n=20_000,
                            progress=False, workers=workers, world=world, shape_share=share, asymptote_n=0,
                            **(anatomy.V1_ANATOMY if world == "anatomical" else {}))
            minutes = (time.perf_counter() - t0) / 60
            table = pd.DataFrame([score_against_ceiling(out, key) for key in TARGET_KEYS])
            for row in table.itertuples():
                rows.append({"world": world, "shape_share": 0.0 if share is None else share,
                             "target": row.target, "metric": row.metric, "learner": row.learner,
                             "learner_se": row.learner_se, "ceiling": row.ceiling,
                             "ceiling_se": row.ceiling_se, "n_train": row.n_train, "n_test": row.n_test,
                             "generation_minutes": minutes})
            print(table[["target", "learner", "ceiling"]].assign(world=world, share=share).to_string(index=False),
                  flush=True)
    return pd.DataFrame(rows)


def write_record(timing: pd.DataFrame, learner: pd.DataFrame, args, minutes: float, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    timing.to_csv(out / "anatomical_world_timing.csv", index=False)
    learner.to_csv(out / "anatomical_world_learner.csv", index=False)
    lines = [
        "# The anatomical world: generation time and what a linear learner loses to shape",
        "",
        f"Made by `python benchmarks/anatomical_world.py --n {args.n} --side {args.side} --seed {args.seed} "
        f"--workers {args.workers}` in {minutes:.1f} min on {time.strftime('%Y-%m-%d')} (2 cores shared "
        "with other jobs: timings are upper bounds).",
        "",
        "## Generation time per participant (T1, FLAIR, DWI in memory; one process, one BLAS thread)",
        "",
        "| side | world | shape share | best round (s) | median round (s) |",
        "|---|---|---|---|---|",
    ]
    for r in timing.itertuples():
        lines.append(f"| {r.side}^3 | {r.world} | {r.shape_share:g} | {r.seconds_best:.3f} | {r.seconds_median:.3f} |")
    lines += [
        "",
        f"## The bounds learner on T1 + FLAIR ({args.n} participants at {args.side}^3: "
        f"{learner.n_train.iloc[0]} trained, {learner.n_test.iloc[0]} scored; the same participants in every row)",
        "",
        "The learner of `benchmarks/bounds.py`: volumes z-scored in the brain, mean-pooled to 16^3, "
        "200 principal components, ridge (continuous) or class-balanced logistic regression (sex), "
        "penalty by 5-fold CV; voxels inside the brain of at least 5% of the training participants "
        "only (`analysis_mask`). The ceiling is the same in every world.",
        "",
        "| world | shape share | target | metric | learner | SE | ceiling | SE | ceiling − learner |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in learner.itertuples():
        metric = "BA" if r.metric != "r2" else "R²"
        lines.append(f"| {r.world} | {r.shape_share:g} | {r.target} | {metric} | {r.learner:.3f} | "
                     f"{r.learner_se:.3f} | {r.ceiling:.3f} | {r.ceiling_se:.3f} | {r.ceiling - r.learner:+.3f} |")
    (out / "anatomical_world.md").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--side", type=int, default=16)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    t0 = time.perf_counter()
    timing = time_generation()
    print(timing.to_string(index=False), flush=True)
    learner = learner_by_share(args.n, args.side, args.seed, args.workers)
    write_record(timing, learner, args, (time.perf_counter() - t0) / 60, Path(args.out))
    print((Path(args.out) / "anatomical_world.md").read_text())


if __name__ == "__main__":
    main()
