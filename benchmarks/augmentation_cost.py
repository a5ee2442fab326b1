"""What the paper's augmentation (each of three transforms applied with p = 0.05) costs a batch
on the CPU threads that assemble batches, two ways:

- ``monai_draws``: each MONAI transform made with ``prob=p`` and called on every volume, so it
  decides for itself; its random draws (a whole 3 x side^3 offset field for the elastic one) are
  made whether or not it applies;
- ``engine``: :class:`legibility.data.model_data.Augmenter`, which draws whether each applies
  and calls only those.

Same distribution of augmentations; the time per batch differs. Usage:
python benchmarks/augmentation_cost.py [--side 64] [--batch 64] [--repeats 3]
Writes benchmarks/results/augmentation_cost.csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from legibility.data.model_data import Augmenter

RESULTS = Path(__file__).resolve().parent / "results"


def monai_draws(aug: Augmenter, p: float):
    """The same transforms, each made with ``prob=p`` and left to decide for itself."""
    transforms = aug.transforms
    for t in transforms:
        t.prob = p

    def run(x, rng):
        out = x.clone()
        for i in range(x.shape[0]):
            vol = x[i]
            for t in transforms:
                t.set_random_state(int(rng.integers(2**31)))
                vol = t(vol)
            out[i] = torch.as_tensor(vol)
        return out

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x = torch.randn(args.batch, 3, args.side, args.side, args.side)
    rows = []
    for name, make in (("monai_draws", lambda: monai_draws(Augmenter(), 0.05)), ("engine", Augmenter)):
        run = make()
        run(x[:2], np.random.default_rng(0))  # warm-up
        for r in range(args.repeats):
            t = time.perf_counter()
            run(x, np.random.default_rng(r + 1))
            sec = time.perf_counter() - t
            rows.append({"way": name, "side": args.side, "batch": args.batch, "repeat": r, "seconds": sec,
                         "samples_per_s": args.batch / sec})
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.node()} {os.cpu_count()} cores"
    df["torch_threads"] = torch.get_num_threads()
    df["date"] = time.strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "augmentation_cost.csv", index=False)
    print(df.groupby("way")[["seconds", "samples_per_s"]].median().to_string())


if __name__ == "__main__":
    main()
