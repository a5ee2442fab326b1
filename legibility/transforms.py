"""Fit on train, apply everywhere: the target transform and the input normalisers.

Each has ``fit``, ``transform``, ``inverse_transform`` (where it makes sense) and a
``state()`` of plain tensors/floats, so a checkpoint loads with ``weights_only=True``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MetadataNormaliser", "TargetTransform", "VoxelStandardiser", "outputs_in_units"]


class TargetTransform:
    """Continuous targets: clamp to the training 0.5th-99.5th percentiles, z-score with the
    training mean/SD, then min-max to [-1, 1] on the training set. The inverse undoes the
    min-max and the z-score exactly (the clamp cannot be undone: predictions are compared with
    the raw, unclamped truth)."""

    def __init__(self, lo=0.0, hi=1.0, mean=0.0, sd=1.0, zmin=-1.0, zmax=1.0):
        self.lo, self.hi, self.mean, self.sd, self.zmin, self.zmax = lo, hi, mean, sd, zmin, zmax

    def fit(self, y) -> TargetTransform:
        y = np.asarray(y, dtype=np.float64)
        self.lo, self.hi = (float(v) for v in np.percentile(y, [0.5, 99.5]))
        c = np.clip(y, self.lo, self.hi)
        self.mean, self.sd = float(c.mean()), float(c.std()) or 1.0
        z = (c - self.mean) / self.sd
        self.zmin, self.zmax = float(z.min()), float(z.max())
        if self.zmax - self.zmin <= 0:
            self.zmax = self.zmin + 1.0
        return self

    def transform(self, y) -> np.ndarray:
        z = (np.clip(np.asarray(y, np.float64), self.lo, self.hi) - self.mean) / self.sd
        return 2.0 * (z - self.zmin) / (self.zmax - self.zmin) - 1.0

    def inverse_transform(self, s) -> np.ndarray:
        z = (np.asarray(s, np.float64) + 1.0) / 2.0 * (self.zmax - self.zmin) + self.zmin
        return z * self.sd + self.mean

    def state(self) -> dict:
        return {k: float(getattr(self, k)) for k in ("lo", "hi", "mean", "sd", "zmin", "zmax")}


def outputs_in_units(outputs, binary: bool, transform: TargetTransform | None = None) -> np.ndarray:
    """A network's outputs as a reader takes them: the probability of class 1 for a binary target
    (the sigmoid of the second of its two outputs), the value in the target's own units for a
    continuous one (its one output through ``transform``'s inverse).

    Parameters
    ----------
    outputs : array of shape (n, 2) or (n, 1)
        What :class:`~legibility.model.FusedModel` returns, as numbers.
    binary : bool
        Whether the target is binary (:attr:`legibility.study.Target.is_binary`).
    transform : TargetTransform, optional
        The model's target transform; needed for a continuous target.
    """
    out = np.asarray(outputs, np.float64)
    if binary:
        return 1 / (1 + np.exp(-out[:, 1]))
    return transform.inverse_transform(out[:, 0])


class MetadataNormaliser:
    """Z-score continuous metadata columns with the training mean/SD; binary ones stay 0/1;
    columns the model must not see (the target's domain, unused blocks) become 0."""

    def __init__(self, mean=None, sd=None, keep=None):
        self.mean, self.sd, self.keep = mean, sd, keep

    def fit(self, x: np.ndarray, binary: np.ndarray, keep: np.ndarray) -> MetadataNormaliser:
        """Empty cells (NaN) are left out of the means and SDs; a model's training rows have
        none in the columns it keeps, so they matter only for columns it zeroes anyway."""
        x = np.asarray(x, np.float64)
        known = np.isfinite(x).any(0)
        mean, sd = np.zeros(x.shape[1]), np.ones(x.shape[1])
        mean[known], sd[known] = np.nanmean(x[:, known], 0), np.nanstd(x[:, known], 0)
        self.mean = np.where(binary, 0.0, mean)
        self.sd = np.where(binary | (sd == 0), 1.0, sd)
        self.keep = np.asarray(keep, bool)
        return self

    def transform(self, x) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.sd
        return np.where(self.keep, z, 0.0).astype(np.float32)

    def state(self) -> dict:
        return {"mean": torch.tensor(self.mean), "sd": torch.tensor(self.sd), "keep": torch.tensor(self.keep)}

    @classmethod
    def from_state(cls, s) -> MetadataNormaliser:
        return cls(s["mean"].numpy(), s["sd"].numpy(), s["keep"].numpy().astype(bool))


class VoxelStandardiser:
    """Voxel-by-voxel standardisation of the stacked volumes with the training set's mean and SD,
    after clipping each voxel to the range it had in training.

    The cache already puts each volume on [-1, 1]; on a few hundred participants a CNN learns
    far faster when each voxel is also centred on the training mean (it then sees differences
    between participants rather than the shared anatomy). The clip keeps a head that reaches
    voxels outside the brain of (almost) every training head from meeting a near-zero SD there:
    without it, such a voxel's value is multiplied by up to 20 and a model that weighs it (the
    linear path, the linear peer) can predict far outside the target's range."""

    def __init__(self, mean=None, sd=None, lo=None, hi=None):
        self.mean, self.sd, self.lo, self.hi = mean, sd, lo, hi

    def fit(self, arrays, index, chunk: int = 64) -> VoxelStandardiser:
        """``arrays``: one (N, S, S, S) array per channel; ``index``: training rows."""
        index = np.sort(np.asarray(index))
        shape = (len(arrays), *arrays[0].shape[1:])
        s1, s2 = np.zeros(shape), np.zeros(shape)
        lo, hi = np.full(shape, np.inf, np.float32), np.full(shape, -np.inf, np.float32)
        for start in range(0, len(index), chunk):
            rows = index[start:start + chunk]
            x32 = np.stack([np.asarray(a[rows], np.float32) for a in arrays], 1)
            np.minimum(lo, x32.min(0), out=lo)
            np.maximum(hi, x32.max(0), out=hi)
            x = x32.astype(np.float64)
            s1 += x.sum(0)
            s2 += (x**2).sum(0)
        n = max(len(index), 1)
        mean = s1 / n
        sd = np.sqrt(np.maximum(s2 / n - mean**2, 0))
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.sd = torch.tensor(np.maximum(sd, 0.05), dtype=torch.float32)  # floor: background voxels
        if len(index):
            self.lo, self.hi = torch.from_numpy(lo), torch.from_numpy(hi)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.lo is not None:  # absent from checkpoints written before the clip
            x = torch.clamp(x, self.lo.to(x.device), self.hi.to(x.device))
        return (x - self.mean.to(x.device)) / self.sd.to(x.device)

    def state(self) -> dict:
        s = {"mean": self.mean, "sd": self.sd}
        return s if self.lo is None else s | {"lo": self.lo, "hi": self.hi}

    @classmethod
    def from_state(cls, s) -> VoxelStandardiser:
        return cls(s["mean"], s["sd"], s.get("lo"), s.get("hi"))
