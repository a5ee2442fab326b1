"""How close the deep models come to the ground truth on a synthetic cohort.

Trains, with the ``cpu`` preset at 32^3: sex and age from T1 + FLAIR, a psychology item from
all imaging, and sex from T1 + FLAIR with the images shuffled between participants (a control
that the imaging is really used). Each test score is written beside its linear peer and its
ground-truth ceiling.

Usage: python benchmarks/synthetic_scores.py --inpath DATA [--epochs 20] [--control-seeds 2]
Writes benchmarks/results/synthetic_scores.{csv,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.evaluation import model_beside_ceiling
from legibility.model import preset
from legibility.train import TrainConfig, train_model

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = [
    ("sex", "t1 flair", False),
    ("age", "t1 flair", False),
    ("worry", "t1 flair dwi", False),
    ("sex", "t1 flair", True),  # the control: run with --control-seeds seeds
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inpath", required=True)
    ap.add_argument("--epochs", type=int, default=20, help="the cpu recipe's 20 (its cosine schedule's length)")
    ap.add_argument("--patience", type=int, default=20)
    ap.add_argument("--lr", type=float, default=None, help="default: the cpu preset's")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the cpu preset's")
    ap.add_argument("--control-seeds", type=int, default=2, help="seeds of the shuffled-images control")
    args = ap.parse_args()
    cache = build_cache(load_dataset(args.inpath), 32)
    n = len(cache.table)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        runs = [(t, i, s, seed) for t, i, s in RUNS for seed in (range(args.control_seeds) if s else [0])]
        for target, inputs, shuffled, seed in runs:
            cfg = TrainConfig(target=target, inputs=tuple(inputs.split()), preset="cpu", side=32,
                              epochs=args.epochs, patience=args.patience, lr=args.lr,
                              batch_size=args.batch_size, shuffle_images=shuffled, seed=seed, progress=False)
            t = time.perf_counter()
            row = train_model(cache, cfg, Path(out) / f"{'shuffled' if shuffled else 'real'}{seed}")
            r = model_beside_ceiling(args.inpath, row).iloc[0].to_dict()
            r.update({"images": "shuffled" if shuffled else "real", "minutes": (time.perf_counter() - t) / 60,
                      "participants": n, "epochs_max": args.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
                      "seed": seed})
            rows.append(r)
            print(json.dumps(r, default=str))
    df = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "synthetic_scores.csv", index=False)
    md = ["| target | inputs | images | seed | metric | deep (test) | 95% CI | linear peer | ceiling | minutes |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r.target} | {r.inputs} | {r.images} | {r.seed} | {r.metric} | {r._4:.3f} | {r._5} | {r._6:.3f} | "
           f"{r.ceiling:.3f} | {r.minutes:.1f} |" for r in df.itertuples()]
    net = preset("cpu")
    text = (f"cpu preset, 32^3, {n} participants, linear path {net.linear_path} (learning at "
            f"{net.linear_path_lr:g} x the rate, started at {net.linear_path_start!r}), lr {cfg.lr}, "
            f"batch {cfg.batch_size}, "
            f"weight decay {cfg.weight_decay}, "
            f"{cfg.schedule} schedule, EMA {cfg.ema}, at most {args.epochs} epochs (patience {args.patience}), "
            f"{time.strftime('%Y-%m-%d')}\n\n" + "\n".join(md) + "\n")
    (RESULTS / "synthetic_scores.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
