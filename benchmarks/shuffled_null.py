"""The shuffled-images control over many permutations: its null distribution, not one draw.

A model trained on shuffled images (each training and validation participant reads another's
images) should score at chance on the test participants' own images. One such model's bootstrap
CI covers only the test participants; the permutation itself moves the score too (a chance
correlation between a participant's sex and the sex of the image it was paired with is learned
as a weak, signed reading of the true signal). This trains the control with ``--seeds`` different
permutations and reports their spread beside the linear peer's.

Usage: python benchmarks/shuffled_null.py --inpath DATA [--target sex] [--seeds 8] [--first 0]
Writes benchmarks/results/shuffled_null.{csv,md}; a run already in the CSV is not trained again.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.study import target
from legibility.train import TrainConfig, train_model

RESULTS = Path(__file__).resolve().parent / "results"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inpath", required=True)
    ap.add_argument("--cohort", default="", help="the cohort's name in the table (e.g. 'seed 12')")
    ap.add_argument("--target", default="sex")
    ap.add_argument("--inputs", nargs="*", default=["t1", "flair"])
    ap.add_argument("--seeds", type=int, default=8, help="permutations (training seeds) to run")
    ap.add_argument("--first", type=int, default=0, help="the first seed")
    args = ap.parse_args()
    cache = build_cache(load_dataset(args.inpath), 32)
    record = RESULTS / "shuffled_null.csv"
    old = pd.read_csv(record) if record.exists() else pd.DataFrame()
    rows = old.to_dict("records")
    with tempfile.TemporaryDirectory() as out:
        for seed in range(args.first, args.first + args.seeds):
            if len(old) and ((old["cohort"] == args.cohort) & (old["seed"] == seed)).any():
                continue
            cfg = TrainConfig(target=args.target, inputs=tuple(args.inputs), preset="cpu", side=32,
                              shuffle_images=True, seed=seed, progress=False)
            t = time.perf_counter()
            row = train_model(cache, cfg, Path(out) / str(seed))
            tgt = target(row["Target"])
            metric, peer = tgt.metric, tgt.peer_column
            rows.append({"cohort": args.cohort, "target": row["Target"], "inputs": row["Inputs"], "seed": seed,
                         "metric": metric, "deep": float(row[metric]), "linear_peer": float(row[peer]),
                         "minutes": (time.perf_counter() - t) / 60})
            print(json.dumps(rows[-1]))
            pd.DataFrame(rows).to_csv(record, index=False)  # kept after every model
    df = pd.DataFrame(rows)
    md = [f"The shuffled-images control over {len(df)} permutations (test scores on the test participants' "
          f"own images; the `cpu` preset, 32^3). {time.strftime('%Y-%m-%d')}.", "",
          "| cohort | seed | deep | linear peer | minutes |", "|---|---|---|---|---|"]
    md += [f"| {r.cohort} | {r.seed} | {r.deep:.3f} | {r.linear_peer:.3f} | {r.minutes:.1f} |" for r in df.itertuples()]
    for who in ("deep", "linear_peer"):
        v = df[who].to_numpy()
        md += ["", f"{who.replace('_', ' ')}: mean {v.mean():.3f}, SD {v.std(ddof=1):.3f}, range "
               f"{v.min():.3f}-{v.max():.3f}; mean - 0.5 = {v.mean() - 0.5:+.3f} "
               f"(t = {(v.mean() - 0.5) / (v.std(ddof=1) / np.sqrt(len(v))):.2f} on {len(v) - 1} df)"]
    (RESULTS / "shuffled_null.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
