"""Does the paper's own network learn? The ``paper`` preset at 64^3, trained on CPU.

The paper's network (a residual 3D CNN of 32-64-128-256-256 channels over the stacked volumes,
about 7.4 M parameters, Adam at 1e-4) reading sex from T1 + FLAIR on a small synthetic cohort at
64^3 (:data:`COHORT`: 200 participants, 160 training, 20 validation, 20 test), for a few epochs:
its training and validation loss each epoch, its validation balanced accuracy beside its linear
peer's, and the minutes it took. Batch 16 instead of the paper's 64, so that 160 participants
make ten steps an epoch. The test row is not read.

Usage::

    python benchmarks/paper_preset_learns.py [--data DIR] [--epochs 4]

writes ``benchmarks/results/paper_preset_learns.md``, ``.csv`` and ``.png``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from legibility.config import TrainConfig  # noqa: E402
from legibility.data.cache import build_cache  # noqa: E402
from legibility.data.layout import load_dataset  # noqa: E402
from legibility.train import train_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COHORT = {"n": 200, "side": 64, "seed": 64, "regions": 96}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/tmp/paper_preset_learns/data"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/paper_preset_learns/models"))
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    t0 = time.perf_counter()
    if not (args.data / "cohort.json").exists():
        from legibility.cohort.writer import generate_cohort

        generate_cohort(args.data, workers=2, **COHORT)
    cache = build_cache(load_dataset(args.data), 64)
    cfg = TrainConfig(target="sex", inputs=("t1", "flair"), preset="paper", side=64, epochs=args.epochs,
                      patience=args.epochs, batch_size=16, seed=0, progress=True)
    t1 = time.perf_counter()
    train_model(cache, cfg, args.work, restore=True)
    minutes = (time.perf_counter() - t1) / 60
    folder = next(args.work.glob("sex__*"))
    progress = pd.read_csv(folder / "training_progress.csv")
    val = pd.read_csv(folder / "metrics.csv").set_index("Mode").loc["Validation"]
    progress.to_csv(RESULTS / "paper_preset_learns.csv", index=False)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(progress.epoch, progress.train_loss, "o-", label="training")
    ax.plot(progress.epoch, progress.val_loss, "s-", label="validation")
    ax.set(xlabel="epoch", ylabel="loss (BCE)", title="paper preset, 64^3, sex from T1 + FLAIR")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(RESULTS / "paper_preset_learns.png", dpi=120)
    rows = "\n".join(f"| {r.epoch} | {r.train_loss:.3f} | {r.val_loss:.3f} | {r.seconds / 60:.1f} |"
                     for r in progress.itertuples())
    (RESULTS / "paper_preset_learns.md").write_text(
        "# The paper's network learns on CPU\n\n"
        f"The `paper` preset at 64^3 (Adam 1e-4, constant rate, augmentation p 0.05; batch 16) on a "
        f"synthetic cohort of {COHORT['n']} participants at 64^3 (seed {COHORT['seed']}; 160 training, "
        f"20 validation), sex from T1 + FLAIR, {args.epochs} epochs, `python benchmarks/paper_preset_learns.py`, "
        f"torch {torch.__version__} on {platform.machine()} with {torch.get_num_threads()} threads "
        f"(2 cores, shared with another run). {minutes:.0f} min of training, "
        f"{(time.perf_counter() - t0) / 60:.0f} min in all.\n\n"
        "| epoch | training loss | validation loss | minutes so far |\n|---|---|---|---|\n" + rows + "\n\n"
        f"Validation balanced accuracy {val['Balanced accuracy']:.3f} (95% CI {val['ci_low']:.3f} to "
        f"{val['ci_high']:.3f}, 20 participants), its linear peer {val['linear_balanced_accuracy']:.3f}. "
        "The test row is not read. Loss curve: `paper_preset_learns.png`.\n")
    print((RESULTS / "paper_preset_learns.md").read_text())


if __name__ == "__main__":
    main()
