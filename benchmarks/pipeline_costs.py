"""How the data path scales and whether the loader keeps up.

1. Growth: generating a cohort and building its cache at 32^3 for 250, 500 and 1,000
   participants (each in a fresh process), seconds and peak anonymous memory (RssAnon sampled
   every 5 ms: the memory-mapped cache pages are file-backed and not counted), and one
   training epoch's reading through the loader (``ModelData.batch``) on the largest.
2. Loader headroom: volumes/s the loader assembles (memory-mapped read, float32, voxel
   standardisation) beside the volumes/s one training step consumes at the same batch size,
   for the ``cpu`` preset (32^3, batch 16) and the ``paper`` preset (64^3, batch 4).

Usage: python benchmarks/pipeline_costs.py [--sizes 250,500,1000]
Writes benchmarks/results/pipeline_costs.csv.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


class AnonPeak:
    """Peak RssAnon of this process while the block runs (MiB), sampled every 5 ms."""

    def __enter__(self):
        self.peak, self._stop = self._now(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _now() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._now())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._now())


def _growth_step(n: int, root: str, queue):
    from legibility.cohort.writer import generate_cohort
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset

    out = {"participants": n}
    base = AnonPeak._now()
    with AnonPeak() as m:
        t = time.perf_counter()
        generate_cohort(Path(root) / f"c{n}", n=n, side=32, seed=5, ceiling_n=2000, progress=False, workers=1)
        out["generate_s"] = time.perf_counter() - t
    out["generate_peak_mib"] = m.peak - base
    ds = load_dataset(Path(root) / f"c{n}")
    base = AnonPeak._now()
    with AnonPeak() as m:
        t = time.perf_counter()
        cache = build_cache(ds, 32, progress=False, workers=1)
        out["cache_s"] = time.perf_counter() - t
    out["cache_peak_mib"] = m.peak - base
    out["cache_mib"] = sum(f.stat().st_size for f in cache.path.iterdir()) / 2**20
    out["epoch_read_s"], out["epoch_read_peak_mib"] = _epoch_read(cache)
    queue.put(out)


def _epoch_read(cache, batch: int = 16):
    """One epoch of training batches (T1 + FLAIR, age) through the loader, no model."""
    from legibility.study import resolve_inputs
    from legibility.train import TrainConfig, model_data

    cfg = TrainConfig(target="age", inputs=("t1", "flair"), batch_size=batch)
    tgt, inputs = resolve_inputs(cfg.target, cfg.inputs)
    base = AnonPeak._now()
    with AnonPeak() as m:
        t = time.perf_counter()
        data = model_data(cache, cfg, tgt, inputs)
        rows = np.random.default_rng(0).permutation(data.rows["train"])
        for s in range(0, len(rows), batch):
            data.batch(rows[s:s + batch])
        sec = time.perf_counter() - t
    return sec, m.peak - base


def growth(sizes) -> list[dict]:
    ctx = mp.get_context("fork")
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for n in sizes:
            q = ctx.Queue()
            p = ctx.Process(target=_growth_step, args=(n, root, q))
            p.start()
            rows.append(q.get())
            p.join()
            print(json.dumps(rows[-1], default=float))
    return rows


def _step_rate(preset_name: str, side: int, batch: int, channels: int, steps: int) -> float:
    """Samples/s of forward + backward + Adam on random volumes (the CNN branch, as trained)."""
    import torch

    from legibility.model import FusedModel, preset

    model = FusedModel(preset(preset_name, side=side, in_channels=channels, n_outputs=1)).train()
    opt = torch.optim.Adam([p for _, p in model.trainable()], lr=1e-4)
    x, y = torch.randn(batch, channels, side, side, side), torch.randn(batch, 1)

    def step():
        loss = (model({"volumes": x}) - y).pow(2).mean() + model.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t)


def headroom() -> list[dict]:
    from legibility.cohort.writer import generate_cohort
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.study import resolve_inputs
    from legibility.train import TrainConfig, model_data

    rows = []
    with tempfile.TemporaryDirectory() as root:
        generate_cohort(Path(root) / "c", n=96, side=64, seed=6, ceiling_n=2000, progress=False)
        ds = load_dataset(Path(root) / "c")
        for name, side, batch, steps in (("cpu", 32, 16, 8), ("paper", 64, 4, 2)):
            cache = build_cache(ds, side, progress=False)
            cfg = TrainConfig(target="sex", inputs=("t1", "flair", "dwi"), preset=name, batch_size=batch)
            tgt, inputs = resolve_inputs(cfg.target, cfg.inputs)
            data = model_data(cache, cfg, tgt, inputs)
            order = np.random.default_rng(0).permutation(data.rows["train"])
            chunks = [order[s:s + batch] for s in range(0, len(order) - batch + 1, batch)]
            t = time.perf_counter()
            for c in chunks:
                data.batch(c)
            loader = len(chunks) * batch * 3 / (time.perf_counter() - t)
            consumed = _step_rate(name, side, batch, 3, steps) * 3
            rows.append({"preset": name, "side": side, "batch": batch, "loader_volumes_per_s": loader,
                         "training_volumes_per_s": consumed, "headroom_x": loader / consumed})
            print(json.dumps(rows[-1]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="250,500,1000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    grow = pd.DataFrame(growth(sizes))
    head = pd.DataFrame(headroom())
    machine = f"{platform.node()} {os.cpu_count()} cores"
    grow["machine"] = head["machine"] = machine
    grow["date"] = head["date"] = time.strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    grow.to_csv(RESULTS / "growth.csv", index=False)
    head.to_csv(RESULTS / "loader_headroom.csv", index=False)
    print(grow.round(2).to_string(index=False))
    print(head.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
