"""Benchmarks of the foundation: cohort generation and the cache's read path.

1. Generating 1,000 participants at 64^3 (goal: at most 3 minutes on the 2-core machine);
   the ground-truth ceilings are a one-off per generator version and are timed apart.
2. Reading an epoch from the cache vs decoding and resizing the NIfTI files each epoch as the
   paper did (sources at 128^3, resized to 64^3); goal: at least 50x faster.

Usage: python benchmarks/cohort_and_cache.py [--n 1000] [--n-read 64]
Writes benchmarks/results/cohort_and_cache.{csv,md}.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.cohort.ground_truth import cached_ceilings
from legibility.cohort.writer import generate_cohort
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.data.sources import load_volume, normalise_volume, resize_volume

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"


def bench_generation(n: int, tmp: Path) -> list[dict]:
    t = time.perf_counter()
    cached_ceilings()  # one-off per generator version (cached afterwards)
    t_ceil = time.perf_counter() - t
    t = time.perf_counter()
    generate_cohort(tmp / "gen", n=n, side=64, seed=1, progress=False)
    t_gen = time.perf_counter() - t
    shutil.rmtree(tmp / "gen")
    return [
        {"benchmark": "ground-truth ceilings (one-off, then cached)", "value": t_ceil, "unit": "s"},
        {"benchmark": f"generate {n} participants at 64^3", "value": t_gen, "unit": "s",
         "goal": "<= 180 s for 1000"},
    ]


def bench_read(n: int, tmp: Path, batch: int = 16) -> list[dict]:
    root = tmp / "src128"
    generate_cohort(root, n=n, side=128, seed=2, progress=False, ceiling_n=2000)
    ds = load_dataset(root)
    t = time.perf_counter()
    cache = build_cache(ds, 64, progress=False)
    t_build = time.perf_counter() - t
    mods = ("flair", "t1", "dwi")
    n_vol = len(ds.table) * len(mods)

    # The paper's way: decode every NIfTI, resize 128^3 -> 64^3, normalise, every epoch.
    t = time.perf_counter()
    for _, row in ds.table.iterrows():
        np.stack([normalise_volume(resize_volume(load_volume(row[f"path_{m}"], row.biobank_id, m), 64))
                  for m in mods])
    t_nifti = time.perf_counter() - t

    # Ours: shuffled batches of the memory-mapped float16 arrays, as the loader hands them over
    # (the model casts to float32 on its side); and with the float32 cast done in torch.
    import torch

    arrays = [cache.volume_array(m) for m in mods]
    reps = 5

    def epoch(cast: bool):
        order = np.random.default_rng(0).permutation(len(ds.table))
        for s in range(0, len(order), batch):
            idx = np.sort(order[s:s + batch])
            x = torch.from_numpy(np.stack([a[idx] for a in arrays], axis=1))
            if cast:
                x.float()

    t = time.perf_counter()
    for _ in range(reps):
        epoch(cast=False)
    t_cache = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        epoch(cast=True)
    t_cast = (time.perf_counter() - t) / reps
    return [
        {"benchmark": f"cache build, {len(ds.table)} participants 128^3 -> 64^3", "value": t_build, "unit": "s"},
        {"benchmark": "epoch read: NIfTI decode + resize (paper)", "value": n_vol / t_nifti, "unit": "volumes/s"},
        {"benchmark": "epoch read: memory-mapped cache, float16 batches (ours)", "value": n_vol / t_cache,
         "unit": "volumes/s"},
        {"benchmark": "epoch read: memory-mapped cache + float32 cast in torch", "value": n_vol / t_cast,
         "unit": "volumes/s"},
        {"benchmark": "cache speed-up over NIfTI decoding", "value": t_nifti / t_cache, "unit": "x",
         "goal": ">= 50x"},
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="participants to generate at 64^3")
    ap.add_argument("--n-read", type=int, default=64, help="participants for the read benchmark")
    ap.add_argument("--parts", default="gen,read", help="which parts to run (others keep their last record)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as d:
        if "gen" in parts:
            rows += bench_generation(args.n, Path(d))
        if "read" in parts:
            rows += bench_read(args.n_read, Path(d))
    df = pd.DataFrame(rows)
    df["part"] = ["gen" if "generate" in b or "ceilings" in b else "read" for b in df.benchmark]
    df["machine"] = machine()
    df["date"] = time.strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    old = RESULTS / "cohort_and_cache.csv"
    if old.exists() and parts != {"gen", "read"}:
        prev = pd.read_csv(old)
        df = pd.concat([prev[~prev.part.isin(parts)], df], ignore_index=True)
    df = df.sort_values("part", kind="stable").reset_index(drop=True)
    df.to_csv(RESULTS / "cohort_and_cache.csv", index=False)
    md = ["| benchmark | value | unit | goal |", "|---|---|---|---|"]
    md += [f"| {r.benchmark} | {r.value:.1f} | {r.unit} | {r.goal if isinstance(r.goal, str) else ''} |"
           for r in df.itertuples()]
    text = "Machine and date per row in cohort_and_cache.csv.\n\n" + "\n".join(md) + "\n"
    (RESULTS / "cohort_and_cache.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
