"""A trained model as a predictor: what training saves of it, and predictions for new data.

The data need only the model's inputs (no split, no target): :func:`predict` reads them with
the same :class:`~legibility.data.batches.BatchReader` as training and applies the normalisers
fitted on the training split, saved beside the weights by :func:`predictor_state`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from legibility.checkpoints import load_checkpoint
from legibility.data.batches import BatchReader, lacking, usable
from legibility.data.cache import Cache
from legibility.data.model_data import ModelData
from legibility.errors import LegibilityError
from legibility.metrics import score_binary, score_continuous
from legibility.model import FusedModel, ModelConfig
from legibility.study import TARGETS, metadata_columns
from legibility.transforms import MetadataNormaliser, TargetTransform, VoxelStandardiser

__all__ = ["load_predictor", "predict", "prediction_scores", "predictor_state"]


def predictor_state(model, data: ModelData, mcfg: ModelConfig, train_config: dict, epoch: int) -> dict:
    """Everything a predictor needs, as plain tensors and dicts (``weights_only=True`` loads it)."""
    return {
        "model": model.state_dict(),
        "model_config": mcfg.to_dict(),
        "train_config": train_config,
        "target": data.tgt.key,
        "imaging": sorted(data.inputs.imaging),
        "blocks": sorted(data.inputs.blocks),
        "channels": data.channels,
        "target_transform": data.target_transform.state() if data.target_transform else {},
        "train_median": data.train_median,
        "metadata_normaliser": data.meta_norm.state(),
        "voxel_standardiser": data.voxel.state() if data.voxel is not None else {},
        "best_epoch": epoch,
    }


def load_predictor(model_dir):
    """``(model, state)`` from ``model_dir/best_model.pt``, ready to predict."""
    path = Path(model_dir) / "best_model.pt"
    if not path.exists():
        raise LegibilityError(f"No trained model at {path}: train one with `legibility train` first.")
    state = load_checkpoint(path)
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
    table = pd.DataFrame({cache.id_name: cache.output_ids()})
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
