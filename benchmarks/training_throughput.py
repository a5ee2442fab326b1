"""Training throughput (samples/s) of both presets: forward + backward + Adam step on random
inputs of the right shape (data loading apart), a few steps after a warm-up.

On CPU: ``cpu`` preset at 32^3 and ``paper`` preset at 64^3 (small batches), fp32, with the
convolutions in the default (NCDHW) layout and in ``channels_last_3d`` (our default), and the
``cpu`` preset under ``torch.compile`` (steady state; the compile time apart).
On a GPU (where one is present): the ``paper`` preset at 64^3 and 128^3, fp32 vs bf16 autocast,
channels-last and compile, with peak memory.

Usage: python benchmarks/training_throughput.py [--gpu_only] [--out DIR]
Writes benchmarks/results/training_throughput.{csv,md}.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from legibility.model import FusedModel, preset

RESULTS = Path(__file__).resolve().parent / "results"


def throughput(name: str, side: int, batch: int, device: str, bf16: bool, steps: int = 4, warmup: int = 1,
               channels_last: bool = True, compile: bool = False):
    cfg = preset(name, side=side, use_connectivity=True, use_metadata=True, n_edges=64_620, n_outputs=1,
                 channels_last=channels_last)
    model = FusedModel(cfg).to(device).train()
    run = torch.compile(model) if compile else model
    opt = torch.optim.Adam([p for _, p in model.trainable()], lr=1e-4)
    b = {"volumes": torch.randn(batch, 3, side, side, side, device=device),
         "connectivity": torch.randn(batch, 64_620, device=device),
         "metadata": torch.randn(batch, 24, device=device)}
    y = torch.randn(batch, 1, device=device)
    ctx = (torch.autocast("cuda", dtype=torch.bfloat16) if bf16
           else torch.autocast(device.split(":")[0], enabled=False))

    def step():
        with ctx:
            loss = (run(b).float() - y).pow(2).mean()
        loss = loss + model.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = time.perf_counter()
    for _ in range(warmup):
        step()
    warm_s = time.perf_counter() - t
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    sec = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    layout = ("channels_last_3d" if channels_last else "NCDHW") + (" + compile" if compile else "")
    return {"preset": name, "side": side, "batch": batch, "device": device, "precision": "bf16" if bf16 else "fp32",
            "layout": layout, "samples_per_s": steps * batch / sec, "warmup_s": warm_s, "peak_gib": peak}


def main():
    import argparse

    ap = argparse.ArgumentParser(description="training throughput of both presets")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for training_throughput.csv")
    ap.add_argument("--gpu_only", action="store_true", help="leave out the CPU lines")
    args = ap.parse_args()
    rows = []
    if not args.gpu_only:
        for cl in (False, True):
            rows.append(throughput("cpu", 32, 16, "cpu", False, steps=8, channels_last=cl))
            rows.append(throughput("paper", 64, 2, "cpu", False, steps=2, channels_last=cl))
        rows.append(throughput("cpu", 32, 16, "cpu", False, steps=8, warmup=2, compile=True))
    if torch.cuda.is_available():
        for side, batch in ((64, 64), (128, 16)):
            for bf16, cl, comp in ((False, False, False), (False, True, False), (True, False, False),
                                   (True, True, False), (True, True, True)):
                if comp and side == 128:
                    continue  # compiling at 128^3 takes minutes; the 64^3 line shows what it buys
                rows.append(throughput("paper", side, batch, "cuda", bf16, steps=10, warmup=3, channels_last=cl,
                                       compile=comp))
                print(rows[-1], flush=True)
    else:
        rows.append({"preset": "paper", "side": 64, "device": "no GPU"})
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.node()} {os.cpu_count()} cores" + (
        f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "")
    df["torch_threads"] = torch.get_num_threads()
    df["date"] = time.strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "training_throughput.csv", index=False)
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
