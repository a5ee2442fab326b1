"""A trained model as a predictor: what training saves of it, and predictions for new data.

The data need only the model's inputs (no split, no target): :func:`predict` reads them with
the same :class:`~legibility.data.batches.BatchReader` as training and applies the normalisers
fitted on the training split, saved beside the weights by :func:`predictor_state`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

from legibility.checkpoints import load_checkpoint
from legibility.data.batches import BatchReader, lacking, usable
from legibility.data.cache import Cache
from legibility.data.layout import ID, Dataset, describe_grid, resizable
from legibility.data.model_data import ModelData
from legibility.errors import DataError, LegibilityError
from legibility.files import atomic_nifti
from legibility.metrics import score_binary, score_continuous
from legibility.model import FusedModel, ModelConfig
from legibility.study import TARGETS, metadata_columns
from legibility.transforms import MetadataNormaliser, TargetTransform, VoxelStandardiser, outputs_in_units
from legibility.user_network import UserNetwork

__all__ = ["compare_with_training", "conform_volumes", "load_predictor", "predict", "prediction_scores",
           "predictor_state", "training_profile", "training_split"]


def predictor_state(model, data: ModelData, mcfg: ModelConfig | None, train_config: dict, epoch: int) -> dict:
    """Everything a predictor needs, as plain tensors and dicts (``weights_only=True`` loads it).
    A user's network (``mcfg`` None) is kept as its class path, arguments and spec."""
    user = model.record() if isinstance(model, UserNetwork) else None
    return {
        "model": model.state_dict(),
        "model_config": mcfg.to_dict() if mcfg is not None else {"side": model.spec.side},
        **({"user_network": user} if user else {}),
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
        "data_profile": training_profile(data),
    }


PROFILE_SAMPLE = 256  # training volumes read for the intensity profile
INTENSITY_QUANTILES = (0.01, 0.99)  # the training range of each per-volume statistic


def _volume_stats(cache: Cache, modality: str, rows) -> np.ndarray:
    """Mean and SD of each normalised volume of ``rows`` (what the network sees): ``(n, 2)``."""
    arr = cache.volume_array(modality)
    out = np.empty((len(rows), 2))
    for i, r in enumerate(rows):
        vol = np.asarray(arr[r], np.float32)
        out[i] = vol.mean(), vol.std()
    return out


def training_profile(data: ModelData) -> dict:
    """What the model's training data looked like, to hold new data against (see
    :func:`compare_with_training`): per modality the source grid and the range of the
    normalised volumes' mean and SD, the connectivity size, the range of each metadata column,
    and the ids of the training and validation participants. Computed once per ``data``."""
    if getattr(data, "_profile", None) is not None:
        return data._profile
    cache, train = data.cache, data.rows["train"]
    sample = np.sort(np.random.default_rng(0).choice(train, min(len(train), PROFILE_SAMPLE), replace=False))
    imaging = [m for m in sorted(data.inputs.imaging) if m != "connectivity"]
    used = [c for c in metadata_columns(data.tgt) if TARGETS[c].domain in data.inputs.blocks]
    ids = cache.table["biobank_id"].astype(str).to_numpy()
    edges = cache.connectivity().shape[1] if "connectivity" in data.inputs.imaging else 0
    data._profile = {
        "source": cache.source,
        "grids": {m: g for m, g in cache.grids.items() if m in imaging},
        "intensity": {m: np.quantile(_volume_stats(cache, m, sample), INTENSITY_QUANTILES, axis=0).tolist()
                      for m in imaging},
        "connectivity_nodes": int(round((1 + np.sqrt(1 + 8 * edges)) / 2)) if edges else 0,
        "metadata_ranges": {c: [float(np.nanmin(cache.table[c].to_numpy(float)[train])),
                                float(np.nanmax(cache.table[c].to_numpy(float)[train]))] for c in used},
        "ids": {s: ids[data.rows[s]].tolist() for s in ("train", "val")},
    }
    return data._profile


def load_predictor(model_dir):
    """``(model, state)`` from ``model_dir/best_model.pt``, ready to predict."""
    path = Path(model_dir) / "best_model.pt"
    if not path.exists():
        raise LegibilityError(f"No trained model at {path}: train one with `legibility train` first.")
    state = load_checkpoint(path)
    if "user_network" in state:
        model = UserNetwork.from_record(state["user_network"])
    else:
        model = FusedModel(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def _shown(items, limit: int = 5) -> str:
    return "; ".join(items[:limit]) + (f"; ... ({len(items) - limit} more)" if len(items) > limit else "")


def conform_volumes(ds: Dataset, state: dict, folder) -> list[str]:
    """Resample onto the training data's grid every volume of ``ds`` whose grid differs from it
    but covers its field of view in its orientation (another voxel size or shape), and point
    ``ds`` at the copies (written once to ``folder``), so that the cache resizes them exactly as
    it resized the training volumes. Returns a note per modality resampled."""
    from nilearn.image import resample_img

    notes = []
    for m, ref in ((state.get("data_profile") or {}).get("grids") or {}).items():
        col = ds.table[f"path_{m}"].to_numpy(dtype=object)
        done = []
        for i, (pid, p) in enumerate(zip(ds.table[ID], col, strict=True)):
            grid = ds.volume_grids.get((pid, m)) if p else None
            if grid is None or grid == ref or not resizable(grid, ref):
                continue
            dst = Path(folder) / f"{Path(p).name.split('.nii')[0]}-{_file_key(p, ref)}.nii.gz"
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                affine = np.vstack([np.asarray(ref["affine"]), [0, 0, 0, 1]])
                img = resample_img(nib.load(p), target_affine=affine, target_shape=ref["shape"],
                                   interpolation="linear", force_resample=True, copy_header=True)
                atomic_nifti(img, dst)
            col[i] = str(dst)
            ds.volume_grids[(pid, m)] = ref
            done.append(f"participant {pid}: {p} had {describe_grid(grid)}")
        ds.table[f"path_{m}"] = col
        if done:
            notes.append(f"{len(done)} {m} volume(s) were on another grid than the model's training data but "
                         f"cover its field of view in its orientation: resampled onto the training grid "
                         f"({describe_grid(ref)}; copies in {folder}), then resized to "
                         f"{state['model_config']['side']}^3 as the training volumes were ({_shown(done, 2)})")
    return notes


def _file_key(path: str, ref: dict) -> str:
    """Hash of a file (path, size, modification time) and of the grid it is resampled onto."""
    st = os.stat(path)
    return hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{ref}".encode()).hexdigest()[:12]


def _compare_grids(ds: Dataset, modality: str, ref: dict) -> list[str]:
    """Volumes of ``modality`` whose orientation or field of view differ from the training data's."""
    moved = []
    for pid, p in zip(ds.table[ID], ds.table[f"path_{modality}"], strict=True):
        grid = ds.volume_grids.get((pid, modality)) if p else None
        if grid is not None and not resizable(grid, ref):
            moved.append(f"participant {pid}: {p} has {describe_grid(grid)}")
    return [f"{len(moved)} {modality} volume(s) differ from the model's training data ({describe_grid(ref)}) "
            f"in orientation or field of view, which resampling cannot fix: {_shown(moved)}. Bring them into "
            f"the training data's space (registration) first"] if moved else []


def _compare_intensity(cache: Cache, modality: str, ref, ds: Dataset) -> list[str]:
    """Volumes whose normalised mean or SD lies far outside the training range ``ref`` (further
    than the range's own width): another contrast, skull left on, another preprocessing."""
    rows = np.flatnonzero(cache.has(modality))
    if not len(rows):
        return []
    (lo_mean, lo_sd), (hi_mean, hi_sd) = ref
    stats = _volume_stats(cache, modality, rows)
    lo, hi = np.array([lo_mean, lo_sd]), np.array([hi_mean, hi_sd])
    width = hi - lo
    far = np.flatnonzero(((stats < lo - width) | (stats > hi + width)).any(1))
    if not len(far):
        return []
    paths = ds.table[f"path_{modality}"].to_numpy()
    shown = [f"{paths[rows[i]]} (mean {stats[i, 0]:.2f}, SD {stats[i, 1]:.2f})" for i in far]
    return [f"{len(far)} {modality} volume(s) have an intensity distribution unlike the model's training data "
            f"(normalised mean {lo_mean:.2f} to {hi_mean:.2f}, SD {lo_sd:.2f} to {hi_sd:.2f} there): "
            f"{_shown(shown)}. Preprocess them as the training data were (brain extraction, bias correction)"]


def _compare_metadata(cache: Cache, ranges: dict) -> tuple[list[str], list[str]]:
    """Metadata values outside the training range (noted), a column whose median is (refused)."""
    notes, refused = [], []
    ids = cache.table["biobank_id"].astype(str).to_numpy()
    for col, (lo, hi) in ranges.items():
        vals = cache.table[col].to_numpy(float)
        out = np.flatnonzero((vals < lo) | (vals > hi))
        if not len(out):
            continue
        units = TARGETS[col].units
        med = float(np.nanmedian(vals))
        if not lo <= med <= hi:
            refused.append(f"field '{col}': median {med:g} lies outside the training range {lo:g} to {hi:g} "
                           f"{units}; check its units or coding")
        else:
            notes.append(f"field '{col}': {len(out)} participant(s) outside the training range {lo:g} to {hi:g} "
                         f"{units} (e.g. participant {ids[out[0]]}: {vals[out[0]]:g}); their predictions "
                         f"extrapolate")
    return notes, refused


def compare_with_training(ds: Dataset, cache: Cache, state: dict) -> tuple[list[str], list[str]]:
    """Hold new data against the model's training data (:func:`training_profile`).

    Parameters
    ----------
    ds : Dataset
        The new data, as read (its volumes' grids).
    cache : Cache
        Its cache at the model's side.
    state : dict
        The model (:func:`load_predictor`).

    Returns
    -------
    notes, refused : list of str
        What is merely noted (values outside the training range), and what no resampling can
        fix (another orientation or field of view, another intensity distribution, a metadata
        column in other units), each naming the files and what differs.

    Raises
    ------
    DataError
        When the connectivity matrices are of another size than the model's.
    """
    prof = state.get("data_profile")
    if not prof:
        return ["the model records no profile of its training data: the new data were not compared with it "
                "(retrain it to record one)"], []
    notes, refused = [], []
    for m, ref in prof["grids"].items():
        refused += _compare_grids(ds, m, ref)
    for m, ref in prof["intensity"].items():
        refused += _compare_intensity(cache, m, ref, ds)
    nodes = prof["connectivity_nodes"]
    edges = cache.connectivity().shape[1]
    if nodes and edges != nodes * (nodes - 1) // 2:
        have = int(round((1 + np.sqrt(1 + 8 * edges)) / 2))
        raise DataError(f"The connectivity matrices of {ds.root} are {have} x {have}; the model was trained on "
                        f"{nodes} x {nodes} ({prof['source']}). Use the training data's parcellation.")
    n, r = _compare_metadata(cache, prof["metadata_ranges"])
    return notes + n, refused + r


def training_split(cache: Cache, state: dict) -> np.ndarray:
    """Per participant of ``cache``: ``train`` or ``val`` when the model was trained or validated
    on a participant of that id, else empty."""
    ids = (state.get("data_profile") or {}).get("ids", {})
    out = np.full(len(cache.table), "", dtype=object)
    own = cache.table["biobank_id"].astype(str)
    for split in ("val", "train"):
        out[own.isin(set(ids.get(split, []))).to_numpy()] = split
    return out


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
    transform = None if tgt.is_binary else TargetTransform(**state["target_transform"])
    in_units = np.full(n, np.nan)
    in_units[rows] = outputs_in_units(out, tgt.is_binary, transform)
    if tgt.is_binary:
        prob = in_units
        table[f"{tgt.key}_probability"] = prob
        label = pd.Series(pd.NA, index=table.index, dtype="Int64")
        label.iloc[rows] = (prob[rows] >= 0.5).astype(int)
        table[f"{tgt.key}_predicted"] = label
    else:
        table[f"{tgt.key}_predicted"] = in_units
    if cache.table[tgt.key].notna().any():
        table[f"{tgt.key}_true"] = cache.table[tgt.key].to_numpy()
    table["lacking"] = lacking(cache, state["imaging"], used).to_numpy()
    table["model_split"] = training_split(cache, state)
    return table


def prediction_scores(table: pd.DataFrame, model_dir, include_training: bool = False) -> dict | None:
    """The published metrics of :func:`predict`'s output on the participants whose target is
    known (``n`` of them); None when the data hold no target. Participants the model was trained
    or validated on (``model_split`` not empty) are left out unless ``include_training``."""
    state = load_predictor(model_dir)[1]
    tgt = TARGETS[state["target"]]
    if f"{tgt.key}_true" not in table.columns:
        return None
    pred = table[f"{tgt.key}_probability" if tgt.is_binary else f"{tgt.key}_predicted"].to_numpy(float)
    y = table[f"{tgt.key}_true"].to_numpy(float)
    known = np.isfinite(y) & np.isfinite(pred)
    if "model_split" in table.columns and not include_training:
        known &= table["model_split"].fillna("").astype(str).to_numpy() == ""
    if known.sum() < 2:
        return None
    scores = (score_binary(y[known], pred[known]) if tgt.is_binary
              else score_continuous(y[known], pred[known], state["train_median"]))
    return {"Target": tgt.display, "n": int(known.sum()), **scores}
