"""The training engine: one model for one (target, input set), with the paper's rules.

Rules (the paper's): Adam; early stopping on validation loss with patience, the best model
kept; a checkpoint every epoch (written atomically; ``restore=True`` resumes from the last one
and ends where an uninterrupted run would, on CPU with the same seed); continuous targets
through :class:`~legibility.transforms.TargetTransform`, binary ones one-hot with sigmoid + BCE
and the majority class randomly undersampled each epoch; the target's own domain block zeroed
and the target never an input (:func:`legibility.study.resolve_inputs`); the L2 penalty of
:meth:`FusedModel.penalty`.

Here: the loop, its learning-rate schedule and weight average, checkpoints and the settings a
finished model records. A model's data are :class:`legibility.data.model_data.ModelData`; its
scoring is :func:`legibility.evaluation.evaluate_model`; prediction is :mod:`legibility.predict`.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from legibility.checkpoints import atomic_csv, atomic_save, load_checkpoint
from legibility.config import TrainConfig
from legibility.data.cache import Cache
from legibility.data.model_data import ModelData, epoch_order
from legibility.errors import LegibilityError
from legibility.evaluation import evaluate_model, predict_rows
from legibility.files import DamagedFileError, atomic_write, damage, file_record, read_json
from legibility.linear import start_linear_path
from legibility.model import FusedModel, ModelConfig, autocast, loss_function, preset, to_device
from legibility.predict import predictor_state
from legibility.study import InputSet, Target, metadata_columns, resolve_inputs
from legibility.user_network import NetworkSpec, UserNetwork

__all__ = ["TrainConfig", "identity_differences", "learning_rate", "model_data", "model_identity", "network_settings",
           "read_back", "read_done", "run_settings", "settings_differences", "train_model"]


def model_data(cache: Cache, cfg: TrainConfig, tgt: Target | None = None, inputs: InputSet | None = None) -> ModelData:
    """The data of ``cfg``'s model with ``cfg``'s options; its target and inputs after the
    leakage rule (``tgt`` and ``inputs`` when already resolved)."""
    if tgt is None or inputs is None:
        tgt, inputs = resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)
    return ModelData(cache, tgt, inputs, data_size=cfg.data_size, augment=cfg.augment,
                     voxel_standardise=cfg.voxel_standardise, diagnostic=cfg.diagnostic,
                     shuffle_seed=cfg.seed + 999 if cfg.shuffle_images else None)


# ----------------------------------------------------------------------------- settings and checkpoints

# Fields of TrainConfig that leave the trained weights as they are: where and how fast a model
# runs, and what it shows while it does. The target and inputs enter as the leakage rule resolves them.
_NOT_WEIGHTS = ("device", "num_workers", "progress", "tensorboard")
_AS_RESOLVED = ("target", "inputs", "metadata_blocks")
_IN_FOLDER_NAME = ("target", "inputs")
# Settings left out of the identity at their off value (0), so that a model trained before the
# setting existed reads as the same model as one trained with it off.
_LEFT_OUT_WHEN_OFF = ("grad_clip", "network", "network_args")


# Fields of ModelConfig that a model's target and inputs decide (its folder's name holds them), and
# channels_last, which changes the memory layout, not the maths.
_NOT_NETWORK = ("use_volumes", "use_connectivity", "use_metadata", "in_channels", "n_edges", "n_metadata",
                "n_outputs", "channels_last")


def network_settings(cfg: TrainConfig, side: int | None = None) -> dict:
    """The network ``cfg`` trains: its preset at ``side`` (default ``cfg.side``) with ``cfg.model``'s
    overrides, less what the model's data decide; or a user's network's class path and arguments.
    Recorded so that a model trained under an earlier version of a preset is not taken for one of
    today's."""
    if cfg.network:
        return {"user_network": cfg.network, "args": dict(cfg.network_args)}
    net = preset(cfg.preset, side=side or cfg.side, **cfg.model).to_dict()
    return {k: v for k, v in net.items() if k not in _NOT_NETWORK}


def model_identity(cfg: TrainConfig, side: int | None = None) -> dict:
    """Everything that decides a model's trained weights, and nothing that does not.

    The one record of what a model is: kept in its checkpoints (compared when it resumes) and
    in its ``done.json`` (compared when a finished model is met again).

    Parameters
    ----------
    cfg : TrainConfig
        The model's settings. The device, the loader workers, the progress bar and TensorBoard
        are left out: a model trained on a GPU is the same model when read back on a CPU.
    side : int, optional
        The side of the cache the model is built at; default ``cfg.side``.

    Returns
    -------
    dict
        JSON-ready: the target's key and the input set's label after the leakage rule, every
        other training field, the side, and the ``network`` (:func:`network_settings`).
    """
    tgt, inputs = resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)
    out = {"target": tgt.key, "inputs": inputs.label}
    out.update({k: v for k, v in asdict(cfg).items() if k not in (*_NOT_WEIGHTS, *_AS_RESOLVED)
                and not (k in _LEFT_OUT_WHEN_OFF and not v)})
    out["side"] = side or cfg.side
    out["network"] = network_settings(cfg, out["side"])
    return json.loads(json.dumps(out))  # tuples as lists: as it reads back from done.json


def run_settings(cfg: TrainConfig) -> dict:
    """Every field of ``cfg`` and the ``network``, as a model's predictor keeps them."""
    out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}
    out["network"] = network_settings(cfg)
    return out


def identity_differences(then: dict, now: dict) -> list[str]:
    """How identity ``now`` differs from ``then`` (both :func:`model_identity`), as
    ``"epochs 3 (now 5)"`` phrases; ``[]`` when they are the same."""
    out = [f"{k} {then.get(k)!r} (now {v!r})" for k, v in now.items()
           if k not in (*_IN_FOLDER_NAME, "network") and then.get(k) != v]
    if "network" not in then:
        out.append("the network is not recorded (trained by an earlier version; the preset may have changed since)")
    else:
        out += [f"network {k} {then['network'].get(k)!r} (now {v!r})" for k, v in now["network"].items()
                if then["network"].get(k) != v]
    return out


def read_done(folder) -> dict | None:
    """A model folder's ``done.json`` when it is there and whole, with its ``metrics.csv`` as recorded
    in it; None when the model is not finished.

    Raises
    ------
    DamagedFileError
        Naming the file, when ``done.json`` is unreadable or ``metrics.csv`` is not as it was written.
    """
    path = Path(folder) / "done.json"
    if not path.exists():
        return None
    done = read_json(path)
    for name, record in done.get("files", {}).items():
        problem = damage(Path(folder) / name, record)
        if problem:
            raise DamagedFileError(f"{Path(folder) / name} of the finished model {Path(folder).name} is damaged: "
                                   f"{problem}.")
    return done


def settings_differences(folder, cfg: TrainConfig, side: int | None = None) -> list[str] | None:
    """How ``cfg`` (its model built at ``side``) differs from the identity in ``folder/done.json``,
    as :func:`identity_differences`; None when the file records none (a model trained by an
    earlier version)."""
    done = read_done(folder)
    if done is None or "settings" not in done:
        return None
    return identity_differences(done["settings"], model_identity(cfg, side))


def _refuse_finished(out: Path, cfg: TrainConfig, side: int):
    diff = settings_differences(out, cfg, side)
    if diff is None:
        how = "by an earlier version that did not record its settings"
    elif diff:
        how = "with other settings: " + ", ".join(diff)
    else:
        how = "with the same settings"
    raise LegibilityError(f"{out} already holds a finished model, trained {how}. Use --restore to read it back "
                          f"(or go on training it), --overwrite to train it afresh, or another --outpath.")


def _say(message: str):
    print(message, file=sys.stderr, flush=True)


def _usable_done(out: Path) -> bool:
    """Whether ``out`` holds a finished model whose ``done.json`` reads back; a damaged one is named
    and removed, so that the model is finished again from its checkpoint."""
    try:
        return read_done(out) is not None
    except DamagedFileError as err:
        _say(f"{err} The model {out.name} is finished again from its last checkpoint (or trained afresh).")
        (out / "done.json").unlink(missing_ok=True)
        return False


def _resume_point(out: Path, ident: dict, overwrite: bool) -> tuple[dict | None, dict | None]:
    """Where a model goes on from: ``(checkpoint, best state)``, ``(None, None)`` for a fresh start.

    ``last.pt`` when it is whole and of this model (one of another model is refused, or with
    ``overwrite`` dropped). A damaged ``last.pt`` is named and the model restarts from
    ``best_model.pt`` (its weights, a fresh optimiser, from the epoch after the best) when that is
    whole and of this model, else from scratch, saying which. A damaged ``best_model.pt`` restarts
    it from scratch."""
    last, best = out / "last.pt", out / "best_model.pt"
    if not last.exists():
        return None, None
    try:
        ck = load_checkpoint(last)
    except DamagedFileError as err:
        ck = _from_best(out, ident, str(err))
        return ck, (ck["model"] if ck else None)
    if ck.get("identity") != ident:
        if not overwrite:
            diff = ", ".join(identity_differences(ck.get("identity") or {}, ident))
            raise LegibilityError(f"Checkpoint {last} of model {out.name} belongs to another run: {diff}. Use another "
                                  f"--outpath, drop --restore, or --overwrite to train afresh.")
        return None, None
    if not best.exists():
        return ck, None
    try:
        return ck, load_checkpoint(best)["model"]
    except DamagedFileError as err:
        _say(f"{err}: model {out.name} restarts from scratch (its best weights "
             f"are lost).")
        return None, None


def _from_best(out: Path, ident: dict, problem: str) -> dict | None:
    """A checkpoint rebuilt from ``best_model.pt`` after ``last.pt`` was found damaged (``problem``), or
    None (from scratch); says which."""
    best = out / "best_model.pt"
    try:
        state = load_checkpoint(best) if best.exists() else None
    except DamagedFileError:
        state = None
    if state is None or state.get("identity") != ident:
        _say(f"{problem}: model {out.name} restarts from scratch (no whole best_model.pt of this model beside it).")
        return None
    epoch = int(state["best_epoch"])
    history = []
    if (out / "training_progress.csv").exists():
        try:
            history = pd.read_csv(out / "training_progress.csv").to_dict("records")[:epoch + 1]
        except (OSError, ValueError, pd.errors.ParserError):
            history = []
    if len(history) != epoch + 1:
        _say(f"{problem}: model {out.name} restarts from scratch (its training history is not readable).")
        return None
    _say(f"{problem}: model {out.name} restarts from {best} (epoch {epoch}'s weights, a fresh optimiser).")
    return {"identity": ident, "model": state["model"], "ema": state["model"], "optimizer": None, "epoch": epoch,
            "history": history, "best_val": float(history[-1]["val_loss"]), "best_epoch": epoch, "bad_epochs": 0}


def learning_rate(cfg: TrainConfig, epoch: float) -> float:
    """The learning rate at a fractional ``epoch``: constant, or a linear warm-up over
    ``warmup_epochs`` then a cosine decay to 0 at ``cfg.epochs``."""
    if cfg.schedule == "constant":
        return cfg.lr
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-3) / cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
    return float(cfg.lr * 0.5 * (1 + np.cos(np.pi * min((epoch - cfg.warmup_epochs) / span, 1.0))))


def _optimiser(model: FusedModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (Adam without weight decay) over the used parameters; the linear path, when there is
    one, in a group of its own at ``linear_path_lr`` times the rate (each group's ``lr_scale``)."""
    named = model.trainable()
    groups = [{"params": [p for n, p in named if not n.startswith("linear_path.")], "lr_scale": 1.0}]
    path = [p for n, p in named if n.startswith("linear_path.")]
    if path:
        groups.append({"params": path, "lr_scale": model.cfg.linear_path_lr})
    if cfg.weight_decay > 0:
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(groups, lr=cfg.lr)


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


def _early_stop(bar, name: str) -> None:
    """Mark a progress bar as finished by early stopping: its total becomes the epochs run, so it
    closes complete (green in a notebook), not as an interrupted run."""
    bar.total = bar.n
    container = getattr(bar, "container", None)  # tqdm.notebook's widgets: text, progress, text
    if container is not None:
        container.children[1].max = bar.n
    bar.set_description(f"{name} (early stop)")


def train_model(cache: Cache, cfg: TrainConfig, outpath, restore: bool = False, overwrite: bool = False) -> dict:
    """Train one model; write its outputs to ``outpath/<model_name>/``; return its test row.

    In four steps: the folder and the model are prepared (:func:`_prepare`), a checkpoint is
    restored when asked (:func:`_restore`), the model is fitted (:func:`_fit`) and its folder
    finished: scores, figures and ``done.json`` (:func:`_finish`).

    A folder holding a finished model (``done.json``) is refused unless ``restore`` or
    ``overwrite`` (start afresh); the refusal names the settings that differ. With ``restore`` a
    finished model of the same :func:`model_identity` is read back (:func:`read_back`: nothing is
    refitted or redrawn), and a half-trained one resumes from its last checkpoint when that is of
    the same identity (one of another is refused, or with ``overwrite`` discarded); a damaged
    checkpoint is named and the model restarts from its best one or from scratch, saying which.
    ``training_progress.csv`` is rewritten after every epoch, so a running model can be watched.
    """
    from legibility.study import model_name

    tgt, inputs = resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)
    out = Path(outpath) / model_name(tgt, inputs)
    ident = model_identity(cfg, cache.side)
    if _open_folder(out, cfg, cache.side, restore, overwrite):
        return read_back(out)
    ck, best_state = _resume_point(out, ident, overwrite) if restore else (None, None)
    run = _prepare(cache, cfg, out, ident, fresh=ck is None)
    if ck is not None:
        _restore(run, ck)
    run.best_state = best_state
    _fit(run)
    return _finish(run)


def read_back(folder) -> dict:
    """The test row of a finished model's ``metrics.csv``, as :func:`train_model` returned it."""
    table = pd.read_csv(Path(folder) / "metrics.csv")
    return table[table["Mode"] == "Test"].iloc[0].to_dict()


def _open_folder(out: Path, cfg: TrainConfig, side: int, restore: bool, overwrite: bool) -> bool:
    """Make ``out`` ready for training; True when it holds a finished model of ``cfg`` to read back
    instead. A finished model is refused without ``restore`` or ``overwrite``, and removed with
    ``overwrite`` alone; files half-written by a killed run are removed."""
    import shutil

    if _usable_done(out):
        if restore and settings_differences(out, cfg, side) == []:
            return True
        if not restore:
            if not overwrite:
                _refuse_finished(out, cfg, side)
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for half_written in out.glob("*.tmp*"):  # left by a killed run; in a sweep this model is ours (its claim)
        half_written.unlink(missing_ok=True)
    return False


@dataclass(eq=False)
class _Run:
    """One model's training as it goes: what :func:`_fit` advances and :func:`_finish` writes."""

    cfg: TrainConfig
    out: Path
    ident: dict
    data: ModelData
    mcfg: ModelConfig
    model: FusedModel
    opt: torch.optim.Optimizer
    ema: FusedModel | None  # the moving average of the weights, when cfg.ema > 0
    history: list = field(default_factory=list)  # one row of training_progress.csv per epoch
    start: int = 0  # the first epoch to run
    best_val: float = float("inf")
    best_epoch: int = -1
    bad: int = 0  # epochs since the best validation loss
    best_state: dict | None = None

    @property
    def judged(self) -> FusedModel:
        """The model that is evaluated and kept: the moving average when there is one."""
        return self.ema if self.ema is not None else self.model


def _prepare(cache: Cache, cfg: TrainConfig, out: Path, ident: dict, fresh: bool) -> _Run:
    """The model's data, network, optimiser and moving average; a ``fresh`` network with a linear
    path started at the linear peer's fit (a restored one takes its checkpoint's weights)."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise LegibilityError(f"--device {cfg.device} asked for, but torch sees no CUDA GPU; use --device cpu.")
    torch.manual_seed(cfg.seed)
    data = model_data(cache, cfg)
    if cfg.network:
        model, mcfg = _user_network(cfg, data, cache.side), None
    else:
        model, mcfg = _fused_model(cfg, data, cache.side)
        if fresh and mcfg.linear_path_start == "peer" and model.linear_path is not None:
            start_linear_path(model, data)
    model = model.to(cfg.device)
    ema = copy.deepcopy(model) if cfg.ema > 0 else None
    return _Run(cfg, out, ident, data, mcfg, model, _optimiser(model, cfg), ema)


def _fused_model(cfg: TrainConfig, data: ModelData, side: int) -> tuple[FusedModel, ModelConfig]:
    """The fused network of ``cfg``'s preset, sized for the model's data."""
    tgt, inputs = data.tgt, data.inputs
    mcfg = preset(cfg.preset, side=side, use_volumes=bool(data.channels),
                  use_connectivity=data.conn is not None, use_metadata=bool(inputs.blocks),
                  in_channels=max(len(data.channels), 1), n_edges=data.n_edges(),
                  n_metadata=len(metadata_columns(tgt)), n_outputs=2 if tgt.is_binary else 1, **cfg.model)
    return FusedModel(mcfg), mcfg


def _user_network(cfg: TrainConfig, data: ModelData, side: int) -> UserNetwork:
    """The user's network named by ``cfg.network``, told what the model's data are."""
    tgt = data.tgt
    spec = NetworkSpec(target=tgt.key, inputs=tuple(sorted(data.inputs.imaging | ({"metadata"} if data.inputs.blocks
                                                                                    else set()))),
                       side=side, channels=tuple(data.channels), n_edges=data.n_edges() if data.conn is not None else 0,
                       n_metadata=len(metadata_columns(tgt)) if data.inputs.blocks else 0,
                       n_outputs=2 if tgt.is_binary else 1)
    model = UserNetwork(cfg.network, cfg.network_args, spec)
    model.eval()
    with torch.no_grad():  # its output shape checked on two validation rows before any training
        model(data.batch(data.rows["val"][:2]))
    return model.train()


def _restore(run: _Run, ck: dict):
    """Put ``run`` where checkpoint ``ck`` left it: weights, optimiser, moving average and history."""
    run.model.load_state_dict(ck["model"])
    if ck["optimizer"] is not None:  # None: restarted from best_model.pt, with a fresh optimiser
        run.opt.load_state_dict(ck["optimizer"])
    if run.ema is not None:
        run.ema.load_state_dict(ck["ema"])
    run.history, run.start = ck["history"], ck["epoch"] + 1
    run.best_val, run.best_epoch, run.bad = ck["best_val"], ck["best_epoch"], ck["bad_epochs"]


def _tensorboard(run: _Run):
    """A TensorBoard writer into the model's folder, when asked for; else None."""
    if not run.cfg.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise LegibilityError("--tensorboard needs the tensorboard package: "
                              "`.venv/bin/pip install tensorboard`, or drop the flag.") from err
    return SummaryWriter(str(run.out / "tensorboard"))


def _fit(run: _Run):
    """Train epochs from ``run.start`` until ``cfg.epochs`` or early stopping; after each, score
    validation, keep the best weights and write the checkpoints and the progress table."""
    from tqdm.auto import tqdm

    cfg = run.cfg
    writer = _tensorboard(run)
    t0 = time.perf_counter() - (run.history[-1]["seconds"] if run.history else 0.0)
    # a bar updated by hand: breaking out of a notebook bar's own iterator would mark it failed (red)
    bar = tqdm(desc=run.out.name, unit="epoch", disable=not cfg.progress, initial=run.start, total=cfg.epochs)
    for epoch in range(run.start, cfg.epochs):
        if run.bad >= cfg.patience:
            _early_stop(bar, run.out.name)
            break
        train_loss = _train_epoch(run, epoch)
        _, val_loss = predict_rows(run.judged, run.data, run.data.rows["val"], cfg.device, cfg.batch_size)
        run.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "seconds": time.perf_counter() - t0, "pid": os.getpid()})  # pid: where a resume took over
        _keep(run, epoch, val_loss)
        if writer:
            writer.add_scalars("loss", {"train": train_loss, "val": val_loss}, epoch)
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}", best=run.best_epoch)
        bar.update(1)
    bar.close()
    if writer:
        writer.close()


def _train_epoch(run: _Run, epoch: int) -> float:
    """One epoch of steps over the training rows (the majority class undersampled afresh); its
    mean training loss. Seeded by the epoch, so that a resumed run replays it exactly."""
    cfg, data, model, opt = run.cfg, run.data, run.model, run.opt
    torch.manual_seed(cfg.seed * 100_003 + epoch)
    rng = np.random.default_rng([cfg.seed, epoch])
    train_rows = data.rows["train"]
    order = train_rows[epoch_order(data.y[train_rows], data.tgt.is_binary, rng)]
    if len(order) % cfg.batch_size == 1:
        order = order[:-1]  # BatchNorm cannot train on a batch of one
    model.train()
    loss_fn = loss_function(data.tgt.is_binary)
    total, count = 0.0, 0
    chunks = [order[s:s + cfg.batch_size] for s in range(0, len(order), cfg.batch_size)]
    seeds = rng.integers(2**31, size=len(chunks))  # one generator per batch: same with any workers
    for step, b in enumerate(_batches(data, chunks, seeds, cfg)):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, epoch + step / len(chunks)) * group["lr_scale"]
        b = to_device(b, cfg.device)
        with autocast(cfg.device):
            fit = loss_fn(model(b).float(), b["target"])
        loss = fit + model.penalty()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if run.ema is not None:
            _ema_update(run.ema, model, cfg.ema, epoch * len(chunks) + step)
        total += fit.item() * len(b["target"])
        count += len(b["target"])
    return total / max(count, 1)


def _keep(run: _Run, epoch: int, val_loss: float):
    """After an epoch: the best weights kept (``best_model.pt``) when ``val_loss`` is the lowest yet,
    the checkpoint to resume from (``last.pt``) and the progress table written."""
    if val_loss < run.best_val:
        run.best_val, run.best_epoch, run.bad = val_loss, epoch, 0
        run.best_state = copy.deepcopy(run.judged.state_dict())
        atomic_save({**predictor_state(run.judged, run.data, run.mcfg, run_settings(run.cfg), epoch),
                     "identity": run.ident}, run.out / "best_model.pt")
    else:
        run.bad += 1
    atomic_save({"identity": run.ident, "model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
                 **({"ema": run.ema.state_dict()} if run.ema is not None else {}), "epoch": epoch,
                 "history": run.history, "best_val": run.best_val, "best_epoch": run.best_epoch,
                 "bad_epochs": run.bad}, run.out / "last.pt")
    atomic_csv(pd.DataFrame(run.history), run.out / "training_progress.csv")  # watchable while it runs


def _finish(run: _Run) -> dict:
    """Score the best weights (:func:`~legibility.evaluation.evaluate_model`: the scores beside the
    linear peer, the figures), then write ``done.json``; the test row."""
    if run.best_state is not None:
        run.judged.load_state_dict(run.best_state)
    minutes = (run.history[-1]["seconds"] if run.history else 0.0) / 60
    atomic_csv(pd.DataFrame(run.history), run.out / "training_progress.csv")
    cfg = run.cfg
    row = evaluate_model(run.judged, run.data, run.out, minutes, cfg.device, cfg.batch_size, cfg.seed, run.history)
    done = {"finished": time.strftime("%Y-%m-%d %H:%M:%S"), "device": cfg.device, "settings": run.ident,
            "files": {"metrics.csv": file_record(run.out / "metrics.csv")}}  # read_done checks it against this
    atomic_write(run.out / "done.json", json.dumps(done, indent=1))
    return row
