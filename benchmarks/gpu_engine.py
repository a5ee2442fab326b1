"""The training engine on a GPU, end to end: a generated cohort at 64^3 with the paper's 360-node
connectivity (64,620 edges), one model of the ``paper`` preset trained with bf16 autocast, and
its test predictions made again on the CPU in full precision from the saved model.

Measures what the synthetic throughput (``training_throughput.py``) leaves out: the loader, the
augmentations, validation each epoch, checkpoints. And checks that a model trained on a GPU
is the same model when read back on a CPU (``legibility predict``).

Usage: python benchmarks/gpu_engine.py [--out DIR] [--n 800] [--epochs 6] [--device cuda]
Writes DIR/gpu_engine.csv (one row per epoch), DIR/gpu_engine.json (the whole record) and
DIR/gpu_engine.md. ``--device cpu --n 60 --side 32 --epochs 1`` tries the script on a laptop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _cli(*args: str) -> tuple[float, str]:
    """Run ``legibility ARGS`` in a fresh interpreter; its wall time and output."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from legibility.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    if done.returncode:
        sys.exit(f"legibility {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n"
                 f"{done.stderr[-4000:]}")
    return seconds, done.stdout + done.stderr


def variants(cohort: Path, work: Path, side: int, device: str, workers: int, epochs: int = 3) -> pd.DataFrame:
    """Median epoch time of the same model with augmentation off and on, at ``workers`` and twice
    as many loader threads: where an epoch's time goes."""
    from legibility.config import TrainConfig
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.train import train_model

    cache = build_cache(load_dataset(cohort), side)
    rows = []
    for augment in (True, False):
        for threads in (workers, 2 * workers):
            cfg = TrainConfig(target="age", inputs=("t1", "flair", "dwi", "connectivity", "metadata"),
                              metadata_blocks=("disease", "serology", "psychology"), preset="paper", side=side,
                              epochs=epochs, patience=epochs, device=device, num_workers=threads, augment=augment,
                              progress=False)
            out = work / f"variant_aug{int(augment)}_w{threads}"
            train_model(cache, cfg, out, overwrite=True)
            progress = pd.read_csv(next(out.rglob("training_progress.csv")))
            epoch_s = progress["seconds"].diff().dropna()
            rows.append({"augment": augment, "loader_threads": threads, "epochs": len(progress),
                         "median_epoch_s": float(epoch_s.median())})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "gpu_engine")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu_engine"), help="cohort and model folders")
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--side", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="loader threads")
    ap.add_argument("--variants", action="store_true",
                    help="only: median epoch time with augmentation on/off and 1x/2x loader threads "
                         "(on the cohort of an earlier run)")
    args = ap.parse_args()
    if args.variants:
        table = variants(args.work / "cohort", args.work, args.side, args.device, args.workers)
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "gpu_engine_variants.csv", index=False)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    cohort, models = args.work / "cohort", args.work / "models"

    record = {"machine": f"{platform.node()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    _, record["env"] = _cli("env")
    print(record["env"], flush=True)
    if not (cohort / "cohort.json").exists():
        record["cohort_s"], _ = _cli("cohort", "--out", str(cohort), "--n", str(args.n), "--side", str(args.side),
                                     "--nodes", "360", "--ceiling_n", "2000", "--seed", "5")
        print(f"cohort of {args.n} at {args.side}^3 in {record['cohort_s']:.0f} s", flush=True)
    train = ["train", "--target", "age", "--inputs", "t1", "flair", "dwi", "connectivity", "metadata",
             "--metadata_blocks", "disease", "serology", "psychology", "--inpath", str(cohort),
             "--outpath", str(models), "--preset", "paper", "--side", str(args.side), "--epochs", str(args.epochs),
             "--patience", str(args.epochs), "--device", args.device, "--num_workers", str(args.workers),
             "--overwrite"]
    record["train_s"], log = _cli(*train)
    record["train_command"] = "legibility " + " ".join(train)
    folder = next(p.parent for p in models.rglob("done.json"))
    done = json.loads((folder / "done.json").read_text())
    progress = pd.read_csv(folder / "training_progress.csv")
    progress["epoch_s"] = progress["seconds"].diff().fillna(progress["seconds"])
    record.update(device=done["device"], settings=done["settings"],
                  n_train_and_val=len(pd.read_csv(cohort / "TRAIN" / "metadata_train.csv")))
    progress.to_csv(args.out / "gpu_engine.csv", index=False)

    # The saved model read back on the CPU in full precision, against the engine's own test
    # predictions (made on the training device, under bf16 autocast there).
    cpu_csv = args.work / "cpu_predictions.csv"
    record["predict_cpu_s"], _ = _cli("predict", "--model", str(folder), "--inpath", str(cohort),
                                      "--out", str(cpu_csv))
    engine = pd.read_csv(folder / "test_predictions.csv")
    cpu = pd.read_csv(cpu_csv)
    print(engine.head(3).to_string(), cpu.head(3).to_string(), sep="\n", flush=True)
    id_col = cpu.columns[0]
    pred_col = next(c for c in engine.columns if c.lower().startswith("pred"))
    merged = engine.merge(cpu, left_on=engine.columns[0], right_on=id_col, suffixes=("_engine", "_cpu"))
    a = merged[pred_col if pred_col in merged else f"{pred_col}_engine"].to_numpy(float)
    b = merged["age_predicted"].to_numpy(float)
    truth = merged["age_true"].to_numpy(float)
    r2 = lambda p: 1 - np.sum((truth - p) ** 2) / np.sum((truth - truth.mean()) ** 2)  # noqa: E731
    record["cpu_vs_engine"] = {"n": int(len(merged)), "max_abs_years": float(np.max(np.abs(a - b))),
                               "mean_abs_years": float(np.mean(np.abs(a - b))),
                               "r2_engine": float(r2(a)), "r2_cpu": float(r2(b))}
    metrics = pd.read_csv(folder / "metrics.csv")
    record["metrics"] = metrics.to_dict(orient="records")
    (args.out / "gpu_engine.json").write_text(json.dumps(record, indent=1, default=str))

    steady = progress["epoch_s"].iloc[1:] if len(progress) > 1 else progress["epoch_s"]
    c = record["cpu_vs_engine"]
    lines = [
        "# The training engine on a GPU, end to end",
        "",
        f"Machine: {record['machine']}; device `{record['device']}`; {record['date']}.",
        f"Command: `python benchmarks/gpu_engine.py --n {args.n} --side {args.side} --epochs {args.epochs} "
        f"--device {args.device}`.",
        "",
        f"- Cohort: {args.n} participants at {args.side}^3, 360 nodes (64,620 edges)"
        + (f", generated in {record['cohort_s']:.0f} s." if "cohort_s" in record else "."),
        f"- Model: age from T1, FLAIR, DWI, connectivity and three metadata blocks, `paper` preset "
        f"(batch {done['settings'].get('batch_size')}, augmentation {done['settings'].get('augment')}), "
        f"{len(progress)} epochs in {record['train_s']:.0f} s wall (start-up, cache build and test included).",
        f"- Epoch (training steps, validation, checkpoint): first {progress['epoch_s'].iloc[0]:.1f} s, "
        f"then median {steady.median():.1f} s.",
        f"- Read back on the CPU in fp32 (`legibility predict`, {record['predict_cpu_s']:.0f} s): {c['n']} test "
        f"participants, largest difference from the engine's bf16 predictions {c['max_abs_years']:.3f} y "
        f"(mean {c['mean_abs_years']:.3f} y); R^2 {c['r2_engine']:.4f} (engine) vs {c['r2_cpu']:.4f} (CPU).",
        "",
        "Per epoch: `gpu_engine.csv`; the environment, settings and metrics: `gpu_engine.json`.",
        "",
    ]
    (args.out / "gpu_engine.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
