"""One model's data: its participants per split, its targets and fitted normalisers, and its
batches (read through :class:`~legibility.data.batches.BatchReader`, as ``predict`` reads them).

Training (:mod:`legibility.train`), the linear peer (:mod:`legibility.linear`) and the
scaling study read a model's data through :class:`ModelData`; none of them assembles batches.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import torch

from legibility.data.batches import BatchReader, usable
from legibility.data.cache import Cache
from legibility.errors import LegibilityError
from legibility.study import CHANNEL_ORDER, TARGETS, InputSet, Target, metadata_columns
from legibility.transforms import MetadataNormaliser, TargetTransform, VoxelStandardiser

__all__ = ["Augmenter", "ModelData", "epoch_order"]


class ModelData:
    """Everything one model reads from the cache, with its fitted normalisers.

    A participant is used when it has the model's modalities, its target and the columns of
    its metadata blocks; ``left_out`` counts, per split, those lacking one of them. Every
    normaliser is fitted on the training split only.

    Parameters
    ----------
    cache : Cache
    tgt : Target
    inputs : InputSet
        After the leakage rule (:func:`legibility.study.resolve_inputs`).
    data_size : int, optional
        Only the first ``data_size`` participants of each split (debugging).
    augment : bool
        Batches asked for with ``augment=True`` go through :class:`Augmenter`.
    voxel_standardise : bool
        Centre and scale each voxel on the training split.
    diagnostic : bool
        Every input replaced by constants: tests the pipeline only.
    shuffle_seed : int, optional
        A control: each training and validation participant reads the volumes and connectivity
        of another participant of its split, drawn with this seed, so nothing true can be learned
        from the images; test participants read their own, so the test score's chance level does
        not hang on one draw of test pairs (within 100 test participants, the sexes of a shuffled
        pair correlated -0.25 by chance and pushed a score to 0.39).
    """

    def __init__(self, cache: Cache, tgt: Target, inputs: InputSet, *, data_size: int | None = None,
                 augment: bool = False, voxel_standardise: bool = True, diagnostic: bool = False,
                 shuffle_seed: int | None = None):
        self.cache, self.tgt, self.inputs = cache, tgt, inputs
        table = cache.table
        cols = metadata_columns(tgt)
        used = [c for c in cols if TARGETS[c].domain in inputs.blocks]
        absent = [c for c in (tgt.key, *used) if table[c].isna().all()]
        if absent:
            raise LegibilityError(f"No participant of {cache.source or cache.path} has {', '.join(absent)}, which "
                                  f"the model of {tgt.key} from {inputs.label} needs (its target and the columns "
                                  f"of its metadata blocks). Its column is absent or empty: `legibility check "
                                  f"--inpath {cache.source or cache.path}` names a misspelt column.")
        ok = usable(cache, inputs.imaging, [tgt.key, *used])
        need = [*sorted(inputs.imaging), tgt.key, *(["metadata"] if used else [])]
        self.rows, self.left_out = {}, {}
        for split in ("train", "val", "test"):
            part = (table["split"] == split).to_numpy()
            idx = np.flatnonzero(part & ok)
            self.left_out[split] = int((part & ~ok).sum())
            if data_size:
                idx = idx[:data_size]
            if len(idx) < 2:
                raise LegibilityError(f"The {split} split has {len(idx)} participant(s) with "
                                      f"{', '.join(need)}: too few to train a model.")
            self.rows[split] = idx
        self.channels = [m for m in CHANNEL_ORDER if m in inputs.imaging]
        self.channel_arrays = [cache.volume_array(m) for m in self.channels]
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
        # Control: training and validation read the images of a random other participant of their split.
        self.source = np.arange(len(table))
        if shuffle_seed is not None:
            rng = np.random.default_rng(shuffle_seed)
            for split in ("train", "val"):
                self.source[self.rows[split]] = rng.permutation(self.rows[split])
        self.augmenter = Augmenter() if augment and self.channels else None
        self.voxel = None
        if self.channels and voxel_standardise and not diagnostic:
            self.voxel = VoxelStandardiser().fit(self.channel_arrays, train)
        self.reader = BatchReader(cache, self.channels, self.conn is not None,
                                  self.meta if inputs.blocks else None, self.voxel, self.source, diagnostic)
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
    """Small augmentations (the paper's), each applied with probability ``p`` to a sample, with MONAI's
    transforms: affine (~2 degrees rotation and shear, 2 voxels translation, 1% scale), a smooth
    elastic deformation, a histogram shift. Seeded from the epoch's generator, so a resumed run
    replays them exactly. Safe in the loader's threads: MONAI's random transforms keep each call's
    draws on themselves, so every thread gets its own."""

    def __init__(self, p: float = 0.05):
        self.p = p
        self._local = threading.local()

    @property
    def transforms(self) -> list:
        """This thread's transforms (made on first use)."""
        if not hasattr(self._local, "transforms"):
            from monai.transforms import Rand3DElastic, RandAffine, RandHistogramShift

            rad, p = float(np.deg2rad(2.0)), 1.0  # whether each applies is drawn in __call__
            self._local.transforms = [
                RandAffine(prob=p, rotate_range=(rad,) * 3, shear_range=(0.035,) * 3, translate_range=(2,) * 3,
                           scale_range=(0.01,) * 3, padding_mode="border"),
                Rand3DElastic(sigma_range=(6, 8), magnitude_range=(5, 10), prob=p, padding_mode="border"),
                RandHistogramShift(num_control_points=10, prob=p),
            ]
        return self._local.transforms

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        out = x.clone()
        for i in range(x.shape[0]):
            vol = x[i]
            for t in self.transforms:  # this thread's
                seed, apply = int(rng.integers(2**31)), rng.random() < self.p
                if apply:  # drawn here, not by MONAI: its transforms draw a whole field even when they skip
                    t.set_random_state(seed)
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
