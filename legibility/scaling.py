"""The data-scaling study: how close the deep model and its linear peer come to the ground-truth
ceiling as the training set grows.

For each target, seed and size ``n`` the deep model (the preset's recipe) and its linear peer are
trained on the first ``n`` participants of a seeded permutation of the training split, so the sizes
are nested (each larger set holds the smaller ones); validation and test sets are the same for
every size. Epochs are budgeted by size: the deep model sees about ``samples`` training
participants in all (``ceil(samples / n)`` epochs, clipped to ``[min_epochs, max_epochs]``), with
early stopping on validation loss; with ``samples`` 16,000 a model on 800 participants trains the
20 epochs of the cpu recipe. The study resumes: a row already in ``scaling.csv`` is not redone,
and a half-trained model resumes from its checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.errors import LegibilityError

__all__ = ["COLUMNS", "ScalingConfig", "epochs_for", "nested_subsets", "scaling_study", "subset_cache"]

COLUMNS = ["target", "inputs", "n_train", "seed", "learner", "val_score", "test_score", "ci_low", "ci_high",
           "ceiling", "minutes", "metric", "epochs", "ceiling_low", "ceiling_high", "linear_asymptote"]


@dataclass
class ScalingConfig:
    targets: tuple[str, ...] = ("age", "sex")
    inputs: tuple[str, ...] = ("t1", "flair")
    sizes: tuple[float, ...] = (250, 500, 1000, 2000, 4000)  # training participants, nested (<= 1: a fraction)
    seeds: int = 2  # seeds 0 .. seeds-1: each its own permutation of the training set and its own init
    samples: int = 16_000  # training participants seen per deep model (epochs = samples / n)
    min_epochs: int = 4
    max_epochs: int = 40
    patience: int = 10  # early stopping on validation loss
    preset: str = "cpu"
    side: int = 32
    device: str = "cpu"
    torch_threads: int | None = None
    progress: bool = False
    network: str | None = None  # "module:Name" of a user's network as the deep learner (legibility.user_network)
    network_args: dict = field(default_factory=dict)


def epochs_for(n: int, cfg: ScalingConfig) -> int:
    """The deep model's epochs at training size ``n``: about ``cfg.samples`` participants seen."""
    return int(min(max(math.ceil(cfg.samples / n), cfg.min_epochs), cfg.max_epochs))


def nested_subsets(train_rows: np.ndarray, sizes, seed: int) -> dict[int, np.ndarray]:
    """``{n: rows}``: the first ``n`` of one seeded permutation of ``train_rows`` (sorted), so
    each larger subset contains the smaller ones.

    Raises
    ------
    LegibilityError
        When a size exceeds the training participants available.
    """
    too_big = [n for n in sizes if n > len(train_rows)]
    if too_big:
        raise LegibilityError(f"--sizes {' '.join(map(str, too_big))} exceed the {len(train_rows)} training "
                              f"participants of the data; give sizes up to {len(train_rows)} or a larger cohort.")
    order = np.random.default_rng(seed).permutation(np.asarray(train_rows))
    return {n: np.sort(order[:n]) for n in sizes}


def subset_cache(cache, keep: np.ndarray):
    """The cache with only the ``keep`` rows left in its training split (the others marked unused)."""
    table = cache.table.copy()
    split = table["split"].to_numpy(object)
    drop = np.ones(len(table), bool)
    drop[keep] = False
    split[(split == "train") & drop] = "unused"
    table["split"] = split
    return replace(cache, table=table)


def _ceiling(data_path, tgt, label: str, metric: str) -> tuple[float, float, float]:
    """The ceiling and a band of its sampling error (± 1.96 SE over the ceiling's held-out half)."""
    from legibility.evaluation import ceiling

    c = ceiling(data_path, tgt.display, label, metric)[0]
    if not np.isfinite(c):
        return c, c, c
    info = Path(data_path) / "cohort.json"
    n = json.loads(info.read_text()).get("ceiling_n", 20_000) // 2 if info.exists() else 10_000
    # R^2: SE ~ 2 sqrt(R^2) (1 - R^2) / sqrt(n); balanced accuracy: SE ~ sqrt(p (1 - p) / (n / 2)) averaged
    se = 2 * math.sqrt(max(c, 0)) * (1 - c) / math.sqrt(n) if metric == "r2" else math.sqrt(c * (1 - c) / n)
    return c, c - 1.96 * se, c + 1.96 * se


def _run(cache, data_path, tgt_key: str, n: int, rows: np.ndarray, seed: int, cfg: ScalingConfig,
         out: Path) -> list[dict]:
    """The deep model and its linear peer at one (target, size, seed): two rows of COLUMNS."""
    from legibility.evaluation import linear_asymptote
    from legibility.linear import linear_peer
    from legibility.metrics import bootstrap_ci
    from legibility.study import resolve_inputs
    from legibility.train import TrainConfig, model_data, train_model

    epochs = epochs_for(n, cfg)
    tc = TrainConfig(target=tgt_key, inputs=tuple(cfg.inputs), preset=cfg.preset, side=cfg.side, epochs=epochs,
                     patience=cfg.patience, seed=seed, device=cfg.device, progress=cfg.progress,
                     network=cfg.network, network_args=dict(cfg.network_args))
    tgt, inputs = resolve_inputs(tc.target, tc.inputs)
    sub = subset_cache(cache, rows)
    metric = tgt.metric
    ceiling, c_low, c_high = _ceiling(data_path, tgt, inputs.label, metric)
    base = {"target": tgt.display, "inputs": inputs.label, "n_train": n, "seed": seed, "ceiling": ceiling,
            "metric": metric, "ceiling_low": c_low, "ceiling_high": c_high,
            "linear_asymptote": linear_asymptote(data_path, tgt.display, inputs.label)}
    t = time.perf_counter()
    model_dir = out / "runs" / f"{tgt.key}__n{n}__s{seed}"
    train_model(sub, tc, model_dir, restore=True)
    minutes = (time.perf_counter() - t) / 60
    metrics = pd.read_csv(next(model_dir.glob("*/metrics.csv"))).set_index("Mode")
    deep = {**base, "learner": "deep", "val_score": float(metrics.loc["Validation", metric]),
            "test_score": float(metrics.loc["Test", metric]), "ci_low": float(metrics.loc["Test", "ci_low"]),
            "ci_high": float(metrics.loc["Test", "ci_high"]), "minutes": minutes, "epochs": epochs}
    t = time.perf_counter()
    data = model_data(sub, tc, tgt, inputs)
    peer = linear_peer(data, predictions=True)
    y_test = data.y[data.rows["test"]]
    pred = peer["test"]["prediction"]
    lo, hi = bootstrap_ci(y_test, pred.astype(int) if tgt.is_binary else pred, tgt.metric_key, seed=seed)
    linear = {**base, "learner": "linear", "val_score": float(peer["val"][tgt.metric_key]),
              "test_score": float(peer["test"][tgt.metric_key]), "ci_low": lo, "ci_high": hi,
              "minutes": (time.perf_counter() - t) / 60, "epochs": 0}
    return [deep, linear]


def scaling_study(data_path, out, config: ScalingConfig | None = None) -> pd.DataFrame:
    """Run (or resume) the study; write ``out/scaling.csv`` after every (target, size, seed) and
    return the table (columns :data:`COLUMNS`)."""
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.study import target as get_target

    cfg = config or ScalingConfig()
    if cfg.torch_threads:
        import torch

        torch.set_num_threads(cfg.torch_threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps({"data_path": str(data_path), "config": asdict(cfg)}, indent=1))
    csv = out / "scaling.csv"
    table = pd.read_csv(csv).reindex(columns=COLUMNS) if csv.exists() else pd.DataFrame(columns=COLUMNS)
    done = {(r.target, int(r.n_train), int(r.seed)) for r in table.itertuples()}
    cache = build_cache(load_dataset(data_path), cfg.side)
    train_rows = np.flatnonzero((cache.table["split"] == "train").to_numpy())
    sizes = sorted({round(s * len(train_rows)) if s <= 1 else int(s) for s in cfg.sizes})
    for seed in range(cfg.seeds):  # seed first: a stopped study has every size of its first seed
        subsets = nested_subsets(train_rows, sizes, seed)
        for n in sizes:
            for key in cfg.targets:
                tgt = get_target(key)
                if (tgt.display, n, seed) in done:
                    continue
                rows = _run(cache, data_path, key, n, subsets[n], seed, cfg, out)
                table = pd.concat([table.dropna(axis=1, how="all"), pd.DataFrame(rows)], ignore_index=True)
                table[COLUMNS].to_csv(csv, index=False)
                if cfg.progress:
                    print(" | ".join(f"{r['learner']} {r['test_score']:.3f}" for r in rows), f"{tgt.display} n={n}")
    return table[COLUMNS]
