"""The training engine: one model for one (target, input set), with the paper's rules.

Rules (SPEC "Training"): Adam; early stopping on validation loss with patience, the best model
kept; a checkpoint every epoch (written atomically; ``restore=True`` resumes from the last one
and ends where an uninterrupted run would, on CPU with the same seed); continuous targets
through :class:`~legibility.transforms.TargetTransform`, binary ones one-hot with sigmoid + BCE
and the majority class randomly undersampled each epoch; the target's own domain block zeroed
and the target never an input; the L2 penalty of :meth:`FusedModel.penalty`.
"""

from __future__ import annotations

import copy
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from legibility.data.batches import BatchReader, lacking, usable
from legibility.data.cache import Cache
from legibility.errors import LegibilityError
from legibility.metrics import bootstrap_ci, score_binary, score_continuous
from legibility.model import FusedModel, ModelConfig, preset
from legibility.study import CHANNEL_ORDER, DOMAINS, INPUT_KEYS, METRIC_COLUMNS, TARGETS, InputSet, Target
from legibility.study import target as get_target
from legibility.transforms import MetadataNormaliser, TargetTransform, VoxelStandardiser

__all__ = ["TRAINING_DEFAULTS", "TrainConfig", "load_predictor", "predict", "prediction_scores", "resolve_inputs",
           "train_model"]


# The training recipe of each preset; a TrainConfig field left at None takes its preset's value.
# The paper's (SPEC "Training"): Adam at 1e-4, batch 64, a constant rate, augmentation with p 0.05.
# The cpu preset's is ours, chosen on validation scores on ~800 training participants (README,
# "What the `cpu` preset needed"; benchmarks/recipe_search.py).
TRAINING_DEFAULTS = {
    "paper": {"lr": 1e-4, "batch_size": 64, "weight_decay": 0.0, "schedule": "constant", "warmup_epochs": 0.0,
              "ema": 0.0, "augment": True},
    "cpu": {"lr": 3e-3, "batch_size": 64, "weight_decay": 0.05, "schedule": "cosine", "warmup_epochs": 1.0,
            "ema": 0.995, "augment": False},
}


@dataclass
class TrainConfig:
    target: str
    inputs: tuple[str, ...]  # input keys: t1 flair dwi connectivity metadata
    metadata_blocks: tuple[str, ...] = ()  # domain words; default with metadata: every allowed one
    preset: str = "cpu"
    side: int = 32
    epochs: int = 50
    batch_size: int | None = None  # None: the preset's (TRAINING_DEFAULTS), as every field at None below
    lr: float | None = None  # peak learning rate
    weight_decay: float | None = None  # > 0: AdamW with this decoupled weight decay; 0: Adam (the paper)
    schedule: str | None = None  # "constant" (the paper) or "cosine": linear warm-up, then cosine to 0
    warmup_epochs: float | None = None  # length of the warm-up of the "cosine" schedule
    ema: float | None = None  # > 0: keep, evaluate and save a moving average of the weights (decay per step)
    patience: int = 30
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    data_size: int | None = None  # only the first N participants of each split (debugging)
    diagnostic: bool = False  # every input replaced by constant codes: tests the pipeline only
    augment: bool | None = None  # small affine/elastic/histogram augmentations, p = 0.05
    voxel_standardise: bool = True  # centre/scale each voxel on the training set
    tensorboard: bool = False
    progress: bool = True
    shuffle_images: bool = False  # control: each participant reads another's images (same split)
    model: dict = field(default_factory=dict)  # ModelConfig fields that override the preset's
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        defaults = TRAINING_DEFAULTS.get(self.preset, TRAINING_DEFAULTS["paper"])
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}.")


# ----------------------------------------------------------------------------- inputs
def resolve_inputs(target: str, inputs, metadata_blocks=()) -> tuple[Target, InputSet]:
    """Check the requested inputs and apply the leakage rule.

    Raises
    ------
    KeyError
        For an unknown target, input or domain word, listing the valid ones.
    ValueError
        When no input is left.
    """
    tgt = get_target(target)
    keys = [k.strip().lower() for k in (inputs.split() if isinstance(inputs, str) else inputs) if k.strip()]
    unknown = [k for k in keys if k not in INPUT_KEYS]
    if unknown:
        raise KeyError(f"Unknown input(s) {', '.join(unknown)}; valid inputs: {', '.join(INPUT_KEYS)}.")
    blocks = [b.strip().lower() for b in (metadata_blocks.split() if isinstance(metadata_blocks, str)
                                          else metadata_blocks) if b.strip()]
    bad = [b for b in blocks if b not in DOMAINS]
    if bad:
        raise KeyError(f"Unknown metadata block(s) {', '.join(bad)}; valid blocks: {', '.join(DOMAINS)}.")
    if blocks and "metadata" not in keys:
        keys.append("metadata")
    if "metadata" in keys and not blocks:
        blocks = [d for d in DOMAINS if d != tgt.domain]
    if tgt.domain in blocks:
        warnings.warn(f"the {tgt.domain} block is the target's own domain and is zeroed (leakage rule)",
                      stacklevel=2)
        blocks = [b for b in blocks if b != tgt.domain]
    if "metadata" in keys and not blocks:
        keys.remove("metadata")
    if not keys:
        raise ValueError(f"No inputs left for target '{tgt.key}': give at least one of "
                         f"{', '.join(INPUT_KEYS)} (metadata of the target's own domain is never used).")
    return tgt, InputSet(frozenset(k for k in keys if k != "metadata"), frozenset(blocks))


def metadata_columns(tgt: Target) -> list[str]:
    """The metadata vector's columns: every characteristic but the target (24)."""
    return [k for k in TARGETS if k != tgt.key]


# ----------------------------------------------------------------------------- data
class ModelData:
    """Everything one model reads from the cache, with its fitted normalisers.

    A participant is used when it has the model's modalities, its target and the columns of
    its metadata blocks; ``left_out`` counts, per split, those lacking one of them."""

    def __init__(self, cache: Cache, tgt: Target, inputs: InputSet, cfg: TrainConfig):
        self.cache, self.tgt, self.inputs, self.cfg = cache, tgt, inputs, cfg
        table = cache.table
        cols = metadata_columns(tgt)
        used = [c for c in cols if TARGETS[c].domain in inputs.blocks]
        absent = [c for c in (tgt.key, *used) if table[c].isna().all()]
        if absent:
            raise LegibilityError(f"No participant of {cache.path} has {', '.join(absent)}, which the model of "
                                  f"{tgt.key} from {inputs.label} needs (its target and the columns of its "
                                  f"metadata blocks).")
        ok = usable(cache, inputs.imaging, [tgt.key, *used])
        need = [*sorted(inputs.imaging), tgt.key, *(["metadata"] if used else [])]
        self.rows, self.left_out = {}, {}
        for split in ("train", "val", "test"):
            part = (table["split"] == split).to_numpy()
            idx = np.flatnonzero(part & ok)
            self.left_out[split] = int((part & ~ok).sum())
            if cfg.data_size:
                idx = idx[: cfg.data_size]
            if len(idx) < 2:
                raise LegibilityError(f"The {split} split has {len(idx)} participant(s) with "
                                      f"{', '.join(need)}: too few to train a model.")
            self.rows[split] = idx
        self.channels = [m for m in CHANNEL_ORDER if m in inputs.imaging]
        self.volumes = [cache.volumes(m) for m in self.channels]
        self.conn = cache.connectivity() if "connectivity" in inputs.imaging else None
        y = table[tgt.key].to_numpy(np.float64)
        self.y = y
        train = self.rows["train"]
        self.target_transform = None if tgt.is_binary else TargetTransform().fit(y[train])
        self.train_median = float(np.median(y[train]))
        binary = np.array([TARGETS[c].is_binary for c in cols])
        keep = np.array([TARGETS[c].domain in inputs.blocks for c in cols])
        self.meta_raw = table[cols].to_numpy(np.float64)
        self.meta_norm = MetadataNormaliser().fit(self.meta_raw[train], binary, keep)
        self.meta = self.meta_norm.transform(self.meta_raw)
        # Control: volumes and connectivity read from a random other participant of the same split.
        self.source = np.arange(len(table))
        if cfg.shuffle_images:
            rng = np.random.default_rng(cfg.seed + 999)
            for idx in self.rows.values():
                self.source[idx] = rng.permutation(idx)
        self.augmenter = Augmenter() if cfg.augment and self.channels else None
        self.voxel = None
        if self.channels and cfg.voxel_standardise and not cfg.diagnostic:
            self.voxel = VoxelStandardiser().fit(self.volumes, train)
        self.reader = BatchReader(cache, self.channels, self.conn is not None,
                                  self.meta if inputs.blocks else None, self.voxel, self.source, cfg.diagnostic)
        if sum(self.left_out.values()):
            warnings.warn(f"{tgt.display} from {inputs.label}: {self.counts()}", stacklevel=2)

    def target_values(self, rows) -> np.ndarray:
        y = self.y[rows]
        if self.tgt.is_binary:
            return np.stack([1 - y, y], 1).astype(np.float32)  # one-hot
        return self.target_transform.transform(y)[:, None].astype(np.float32)

    def batch(self, rows, augment: bool = False, rng=None) -> dict[str, torch.Tensor]:
        out = self.reader(rows, augment=self.augmenter if augment else None, rng=rng)
        return {"target": torch.from_numpy(self.target_values(rows)), "id": np.asarray(rows), **out}

    def counts(self) -> str:
        """``'29 train, 4 val, 3 test participants (4 left out for lacking hb or an input: 3 train, 0 val,
        1 test)'``; the parenthesis only when some are left out."""
        used = ", ".join(f"{len(self.rows[s])} {s}" for s in self.rows)
        out = sum(self.left_out.values())
        return used + " participants" + (f" ({out} left out for lacking {self.tgt.key} or an input: "
                                         + ", ".join(f"{self.left_out[s]} {s}" for s in self.rows) + ")"
                                         if out else "")

    def n_edges(self) -> int:
        return int(self.conn.shape[1]) if self.conn is not None else 1


class Augmenter:
    """Small augmentations (SPEC), each applied with probability ``p`` to a sample, with MONAI's
    transforms: affine (~2 degrees rotation and shear, 2 voxels translation, 1% scale), a smooth
    elastic deformation, a histogram shift. Seeded from the epoch's generator, so a resumed run
    replays them exactly."""

    def __init__(self, p: float = 0.05):
        from monai.transforms import Rand3DElastic, RandAffine, RandHistogramShift

        rad = float(np.deg2rad(2.0))
        self.transforms = [
            RandAffine(prob=p, rotate_range=(rad,) * 3, shear_range=(0.035,) * 3, translate_range=(2,) * 3,
                       scale_range=(0.01,) * 3, padding_mode="border"),
            Rand3DElastic(sigma_range=(6, 8), magnitude_range=(5, 10), prob=p, padding_mode="border"),
            RandHistogramShift(num_control_points=10, prob=p),
        ]

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        out = x.clone()
        for i in range(x.shape[0]):
            vol = x[i]
            for t in self.transforms:
                t.set_random_state(int(rng.integers(2**31)))
                vol = t(vol)
            out[i] = torch.as_tensor(vol)
        return out


def epoch_order(y_train: np.ndarray, binary: bool, rng: np.random.Generator) -> np.ndarray:
    """Positions (into the training rows) of one epoch: shuffled, and for binary targets with
    the majority class randomly undersampled to the minority count."""
    pos = np.arange(len(y_train))
    if binary:
        ones, zeros = pos[y_train == 1], pos[y_train == 0]
        k = min(len(ones), len(zeros))
        if k > 0:
            pos = np.concatenate([rng.choice(ones, k, replace=False), rng.choice(zeros, k, replace=False)])
    return rng.permutation(pos)


# ----------------------------------------------------------------------------- checkpoints
def _atomic_save(obj, path: Path):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise LegibilityError(f"Checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {err}). "
                              f"Delete it to start this model afresh.") from err


def _atomic_csv(table: pd.DataFrame, path: Path):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


# Fields of TrainConfig that leave the trained model unchanged, and those the model folder's
# name already holds: neither is compared when a finished model is met again.
_NOT_SETTINGS = ("progress", "tensorboard", "num_workers", "extra")
_IN_FOLDER_NAME = ("target", "inputs", "metadata_blocks")


def run_settings(cfg: TrainConfig) -> dict:
    """The settings a model was trained with, as written to its ``done.json``."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items() if k not in _NOT_SETTINGS}


def settings_differences(folder, cfg: TrainConfig) -> list[str] | None:
    """How ``cfg`` differs from the settings in ``folder/done.json``, as ``"epochs 3 (now 5)"``
    phrases; ``[]`` when they are the same; None when the file records no settings (a model
    trained by an earlier version)."""
    done = json.loads((Path(folder) / "done.json").read_text())
    if "settings" not in done:
        return None
    now = run_settings(cfg)
    return [f"{k} {done['settings'].get(k)!r} (now {now[k]!r})" for k in now
            if k not in _IN_FOLDER_NAME and done["settings"].get(k) != now[k]]


def _refuse_finished(out: Path, cfg: TrainConfig):
    diff = settings_differences(out, cfg)
    if diff is None:
        how = "by an earlier version that did not record its settings"
    elif diff:
        how = "with other settings: " + ", ".join(diff)
    else:
        how = "with the same settings"
    raise LegibilityError(f"{out} already holds a finished model, trained {how}. Use --restore to read it back "
                          f"(or go on training it), --overwrite to train it afresh, or another --outpath.")


def _identity(cfg: TrainConfig, tgt: Target, inputs: InputSet) -> dict:
    return {"target": tgt.key, "inputs": inputs.label, "preset": cfg.preset, "side": cfg.side,
            "seed": cfg.seed, "batch_size": cfg.batch_size, "lr": cfg.lr, "diagnostic": cfg.diagnostic,
            "data_size": cfg.data_size or 0, "weight_decay": cfg.weight_decay, "schedule": cfg.schedule,
            "warmup_epochs": cfg.warmup_epochs, "ema": cfg.ema, "augment": cfg.augment,
            "epochs": cfg.epochs if cfg.schedule == "cosine" else None,  # the cosine's length
            "model": json.dumps(cfg.model, sort_keys=True)}


def learning_rate(cfg: TrainConfig, epoch: float) -> float:
    """The learning rate at a fractional ``epoch``: constant, or a linear warm-up over
    ``warmup_epochs`` then a cosine decay to 0 at ``cfg.epochs``."""
    if cfg.schedule == "constant":
        return cfg.lr
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-3) / cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
    return float(cfg.lr * 0.5 * (1 + np.cos(np.pi * min((epoch - cfg.warmup_epochs) / span, 1.0))))


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int):
    """ema <- d * ema + (1 - d) * model, over weights and float buffers (BN statistics), with
    d = min(decay, (1 + step) / (10 + step)): the early average forgets the initial weights fast."""
    decay = min(decay, (1 + step) / (10 + step))
    for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
        if e.dtype.is_floating_point:
            e.mul_(decay).add_(m, alpha=1 - decay)
        else:
            e.copy_(m)


# ----------------------------------------------------------------------------- training
def _batches(data: ModelData, chunks, seeds, cfg: TrainConfig):
    """The epoch's batches in order; with ``num_workers`` > 0 assembled ahead in threads."""
    def make(i):
        return data.batch(chunks[i], augment=cfg.augment, rng=np.random.default_rng(int(seeds[i])))

    if cfg.num_workers <= 0:
        yield from (make(i) for i in range(len(chunks)))
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(cfg.num_workers) as pool:
        ahead = min(len(chunks), 2 * cfg.num_workers)
        pending = deque(pool.submit(make, i) for i in range(ahead))
        for nxt in range(ahead, len(chunks) + ahead):
            yield pending.popleft().result()
            if nxt < len(chunks):
                pending.append(pool.submit(make, nxt))


def _loss_fn(binary: bool):
    if binary:
        bce = nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy on one-hot labels
        return lambda out, y: bce(out, y)
    mse = nn.MSELoss()
    return lambda out, y: mse(out, y)


def _autocast(device: str):
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _to(batch, device):
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


@torch.no_grad()
def _predict_rows(model, data: ModelData, rows, device, batch_size) -> tuple[np.ndarray, float]:
    """Model outputs (probability of class 1, or target-scale values) and mean loss."""
    model.eval()
    loss_fn = _loss_fn(data.tgt.is_binary)
    outs, losses = [], []
    for s in range(0, len(rows), batch_size):
        b = _to(data.batch(rows[s:s + batch_size]), device)
        with _autocast(device):
            out = model(b).float()
        losses.append(float(loss_fn(out, b["target"])) * len(out))
        outs.append(out.cpu().numpy())
    out = np.concatenate(outs)
    pred = 1 / (1 + np.exp(-out[:, 1])) if data.tgt.is_binary else out[:, 0]
    return pred, sum(losses) / len(rows)


def _metrics(data: ModelData, pred: np.ndarray, rows) -> tuple[dict, np.ndarray]:
    y = data.y[rows]
    if data.tgt.is_binary:
        return score_binary(y, pred), pred
    values = data.target_transform.inverse_transform(pred)  # original units
    return score_continuous(y, values, data.train_median), values


def train_model(cache: Cache, cfg: TrainConfig, outpath, restore: bool = False, overwrite: bool = False) -> dict:
    """Train one model; write its outputs to ``outpath/<model_name>/``; return its test row.

    A folder holding a finished model (``done.json``) is refused unless ``restore`` (resume: read
    it back, or train on to more epochs) or ``overwrite`` (start afresh); the refusal names the
    settings that differ. With ``overwrite`` a checkpoint of other settings is discarded too.
    ``training_progress.csv`` is rewritten after every epoch, so a running model can be watched.
    """
    import shutil

    from tqdm.auto import tqdm

    from legibility.study import model_name

    tgt, inputs = resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)
    out = Path(outpath) / model_name(tgt, inputs)
    if (out / "done.json").exists() and not restore:
        if not overwrite:
            _refuse_finished(out, cfg)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    device = cfg.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LegibilityError(f"--device {device} asked for, but torch sees no CUDA GPU; use --device cpu.")
    torch.manual_seed(cfg.seed)
    data = ModelData(cache, tgt, inputs, cfg)
    mcfg = preset(cfg.preset, side=cache.side, use_volumes=bool(data.channels),
                  use_connectivity=data.conn is not None, use_metadata=bool(inputs.blocks),
                  in_channels=max(len(data.channels), 1), n_edges=data.n_edges(),
                  n_metadata=len(metadata_columns(tgt)), n_outputs=2 if tgt.is_binary else 1, **cfg.model)
    model = FusedModel(mcfg).to(device)
    params = [p for _, p in model.trainable()]
    opt = (torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.weight_decay > 0
           else torch.optim.Adam(params, lr=cfg.lr))
    ema = copy.deepcopy(model) if cfg.ema > 0 else None  # what is evaluated and kept when set
    judged = ema if ema is not None else model
    loss_fn = _loss_fn(tgt.is_binary)
    ident = _identity(cfg, tgt, inputs)
    last, best_path = out / "last.pt", out / "best_model.pt"
    history, start, best_val, best_epoch, bad = [], 0, float("inf"), -1, 0
    best_state = None
    ck = _load_checkpoint(last) if restore and last.exists() else None
    if ck is not None and ck.get("identity") != ident:
        if not overwrite:
            theirs = ck.get("identity") or {}
            diff = ", ".join(f"{k} {theirs.get(k)!r} (now {v!r})" for k, v in ident.items() if theirs.get(k) != v)
            raise LegibilityError(f"Checkpoint {last} belongs to another run: {diff}. Use another --outpath, "
                                  f"drop --restore, or --overwrite to train afresh.")
        ck = None
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if ema is not None:
            ema.load_state_dict(ck["ema"])
        history, start = ck["history"], ck["epoch"] + 1
        best_val, best_epoch, bad = ck["best_val"], ck["best_epoch"], ck["bad_epochs"]
        if best_path.exists():
            best_state = _load_checkpoint(best_path)["model"]
    writer = None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise LegibilityError("--tensorboard needs the tensorboard package: "
                                  "`.venv/bin/pip install tensorboard`, or drop the flag.") from err

        writer = SummaryWriter(str(out / "tensorboard"))
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    train_rows = data.rows["train"]
    y_train = data.y[train_rows]
    epochs = tqdm(range(start, cfg.epochs), desc=out.name, unit="epoch", disable=not cfg.progress,
                  initial=start, total=cfg.epochs)
    for epoch in epochs:
        if bad >= cfg.patience:
            break
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # per-epoch seeds: resuming replays exactly
        rng = np.random.default_rng([cfg.seed, epoch])
        order = train_rows[epoch_order(y_train, tgt.is_binary, rng)]
        if len(order) % cfg.batch_size == 1:
            order = order[:-1]  # BatchNorm cannot train on a batch of one
        model.train()
        total, count = 0.0, 0
        chunks = [order[s:s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
        seeds = rng.integers(2**31, size=len(chunks))  # one generator per batch: same with any workers
        for step, b in enumerate(_batches(data, chunks, seeds, cfg)):
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, epoch + step / len(chunks))
            b = _to(b, device)
            with _autocast(device):
                fit = loss_fn(model(b).float(), b["target"])
            loss = fit + model.penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                _ema_update(ema, model, cfg.ema, epoch * len(chunks) + step)
            total += fit.item() * len(b["target"])
            count += len(b["target"])
        _, val_loss = _predict_rows(judged, data, data.rows["val"], device, cfg.batch_size)
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
               "seconds": time.perf_counter() - t0, "pid": os.getpid()}  # pid: shows where a resume took over
        history.append(row)
        if val_loss < best_val:
            best_val, best_epoch, bad = val_loss, epoch, 0
            best_state = copy.deepcopy(judged.state_dict())
            _atomic_save(_predictor_state(judged, data, mcfg, cfg, tgt, inputs, best_epoch), best_path)
        else:
            bad += 1
        _atomic_save({"identity": ident, "model": model.state_dict(), "optimizer": opt.state_dict(),
                      **({"ema": ema.state_dict()} if ema is not None else {}), "epoch": epoch,
                      "history": history, "best_val": best_val, "best_epoch": best_epoch,
                      "bad_epochs": bad}, last)
        _atomic_csv(pd.DataFrame(history), out / "training_progress.csv")  # watchable while it runs
        if writer:
            writer.add_scalars("loss", {"train": row["train_loss"], "val": val_loss}, epoch)
        epochs.set_postfix(train=f"{row['train_loss']:.3f}", val=f"{val_loss:.3f}", best=best_epoch)
    if writer:
        writer.close()
    if best_state is not None:
        judged.load_state_dict(best_state)
    minutes = (history[-1]["seconds"] if history else 0.0) / 60
    return _evaluate(judged, data, cfg, tgt, inputs, out, history, minutes, device)


def _predictor_state(model, data: ModelData, mcfg: ModelConfig, cfg: TrainConfig, tgt, inputs, epoch) -> dict:
    """Everything a predictor needs, as plain tensors and dicts (``weights_only=True`` loads it)."""
    return {
        "model": model.state_dict(),
        "model_config": mcfg.to_dict(),
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
                         if k != "extra"},
        "target": tgt.key,
        "imaging": sorted(inputs.imaging),
        "blocks": sorted(inputs.blocks),
        "channels": data.channels,
        "target_transform": data.target_transform.state() if data.target_transform else {},
        "train_median": data.train_median,
        "metadata_normaliser": data.meta_norm.state(),
        "voxel_standardiser": data.voxel.state() if data.voxel is not None else {},
        "best_epoch": epoch,
    }


def _evaluate(model, data: ModelData, cfg, tgt, inputs, out: Path, history, minutes, device) -> dict:
    from legibility.figures import save_figure
    from legibility.figures.model import plot_confusion, plot_curves, plot_scatter
    from legibility.linear import linear_peer

    peer = linear_peer(data)
    rows = []
    for mode, split in (("Validation", "val"), ("Test", "test")):
        idx = data.rows[split]
        pred, loss = _predict_rows(model, data, idx, device, cfg.batch_size)
        m, values = _metrics(data, pred, idx)
        y = data.y[idx]
        if tgt.is_binary:
            ci_metric = "Balanced accuracy"
            lo, hi = bootstrap_ci(y, (values >= 0.5).astype(int), "balanced_accuracy", seed=cfg.seed)
        else:
            ci_metric = "r2"
            lo, hi = bootstrap_ci(y, values, "r2", seed=cfg.seed)
        row = {"Mode": mode, "Target": tgt.display, "Inputs": inputs.label, **m,
               "Training time (mins)": minutes, "Loss": loss, **inputs.flags(),
               "Domain": DOMAINS[tgt.domain].name, "n": len(idx), "ci_metric": ci_metric,
               "ci_low": lo, "ci_high": hi, "seed": cfg.seed, "device": device,
               **{f"n_{s}": len(data.rows[s]) for s in data.rows},
               **{f"n_left_out_{s}": n for s, n in data.left_out.items()},
               **{f"linear_{k}": v for k, v in peer[split].items()}}
        rows.append(row)
        if split == "test":
            test_pred = values
    table = pd.DataFrame(rows)
    extra = [c for c in table.columns if c not in METRIC_COLUMNS]
    table = table[list(METRIC_COLUMNS) + extra]
    table.to_csv(out / "metrics.csv", index=False)
    _atomic_csv(pd.DataFrame(history), out / "training_progress.csv")
    pd.DataFrame({data.cache.id_name: data.cache.table["biobank_id"].to_numpy()[data.rows["test"]],
                  "truth": data.y[data.rows["test"]], "prediction": test_pred}).to_csv(
        out / "test_predictions.csv", index=False)
    import matplotlib.pyplot as plt

    if history:
        fig = plot_curves(pd.DataFrame(history), title=f"{tgt.display} | {inputs.label}")
        save_figure(fig, "training_curves", out, formats=("png",))
        plt.close(fig)
    y = data.y[data.rows["test"]]
    fig = (plot_confusion(y, (test_pred >= 0.5).astype(int), tgt) if tgt.is_binary
           else plot_scatter(y, test_pred, tgt))
    save_figure(fig, "confusion_matrix" if tgt.is_binary else "predicted_vs_true", out, formats=("png",))
    plt.close(fig)
    (out / "done.json").write_text(json.dumps({"finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                                               "settings": run_settings(cfg)}, indent=1))
    return rows[-1]


# ----------------------------------------------------------------------------- predictor
def load_predictor(model_dir):
    """``(model, state)`` from ``model_dir/best_model.pt``, ready to predict."""
    path = Path(model_dir) / "best_model.pt"
    if not path.exists():
        raise LegibilityError(f"No trained model at {path}: train one with `legibility train` first.")
    state = _load_checkpoint(path)
    model = FusedModel(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


@torch.no_grad()
def predict(model_dir, cache: Cache, batch_size: int = 64) -> pd.DataFrame:
    """Predictions of a trained model for every participant of ``cache``, in original units.

    The data need only the model's inputs: its modalities and the characteristic columns of
    its metadata blocks; no split, no target. One row per participant, in the data's order,
    under the data's own id column: binary targets give the probability of 1 and the predicted
    class, continuous ones the value; a participant lacking an input gets no prediction and
    ``lacking`` names what it lacks; where the target is known, ``<target>_true`` holds it
    (see :func:`prediction_scores`).
    """
    model, state = load_predictor(model_dir)
    tgt = TARGETS[state["target"]]
    cols = metadata_columns(tgt)
    used = [c for c in cols if TARGETS[c].domain in state["blocks"]]
    missing = [m for m in state["imaging"] if not cache.has(m).any()]
    missing += [c for c in used if cache.table[c].isna().all()]
    if missing:
        raise LegibilityError(f"The data at {cache.path} lack {', '.join(missing)}, which the model in "
                              f"{model_dir} needs.")
    if state["channels"] and cache.side != state["model_config"]["side"]:
        raise LegibilityError(f"The model in {model_dir} was trained at side {state['model_config']['side']}; "
                              f"build the cache of the new data at that side (got {cache.side}).")
    rows = np.flatnonzero(usable(cache, state["imaging"], used))
    meta = None
    if state["blocks"]:
        meta = MetadataNormaliser.from_state(state["metadata_normaliser"]).transform(
            cache.table[cols].to_numpy(np.float64))
    voxel = VoxelStandardiser.from_state(state["voxel_standardiser"]) if state["voxel_standardiser"] else None
    reader = BatchReader(cache, state["channels"], "connectivity" in state["imaging"], meta, voxel)
    outs = [model(reader(rows[s:s + batch_size])).numpy() for s in range(0, len(rows), batch_size)]
    out = np.concatenate(outs) if outs else np.zeros((0, 2 if tgt.is_binary else 1), np.float32)
    table = pd.DataFrame({cache.id_name: cache.table["biobank_id"].astype(str).to_numpy()})
    split = cache.table["split"].fillna("").astype(str)
    if (split != "").any():
        table["split"] = split.to_numpy()
    n = len(table)
    if tgt.is_binary:
        prob = np.full(n, np.nan)
        prob[rows] = 1 / (1 + np.exp(-out[:, 1]))
        table[f"{tgt.key}_probability"] = prob
        label = pd.Series(pd.NA, index=table.index, dtype="Int64")
        label.iloc[rows] = (prob[rows] >= 0.5).astype(int)
        table[f"{tgt.key}_predicted"] = label
    else:
        values = np.full(n, np.nan)
        values[rows] = TargetTransform(**state["target_transform"]).inverse_transform(out[:, 0])
        table[f"{tgt.key}_predicted"] = values
    if cache.table[tgt.key].notna().any():
        table[f"{tgt.key}_true"] = cache.table[tgt.key].to_numpy()
    table["lacking"] = lacking(cache, state["imaging"], used).to_numpy()
    return table


def prediction_scores(table: pd.DataFrame, model_dir) -> dict | None:
    """The published metrics of :func:`predict`'s output on the participants whose target is
    known (``n`` of them); None when the data hold no target."""
    state = load_predictor(model_dir)[1]
    tgt = TARGETS[state["target"]]
    if f"{tgt.key}_true" not in table.columns:
        return None
    pred = table[f"{tgt.key}_probability" if tgt.is_binary else f"{tgt.key}_predicted"].to_numpy(float)
    y = table[f"{tgt.key}_true"].to_numpy(float)
    known = np.isfinite(y) & np.isfinite(pred)
    if known.sum() < 2:
        return None
    scores = (score_binary(y[known], pred[known]) if tgt.is_binary
              else score_continuous(y[known], pred[known], state["train_median"]))
    return {"Target": tgt.display, "n": int(known.sum()), **scores}
