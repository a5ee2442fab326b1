"""Batches of one model's inputs, read from a cache: the one assembly training and predict share.

A batch is a dictionary keyed by the study's inputs: ``volumes`` (the used channels stacked in
the order [FLAIR, T1, DWI], voxel-standardised), ``connectivity`` (the upper triangle) and
``metadata`` (the normalised vector, the target's own domain and unused blocks zeroed).
Training adds ``target`` and ``id``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from legibility.data.cache import Cache

__all__ = ["BatchReader", "lacking", "usable"]


def lacking(cache: Cache, imaging, columns) -> pd.Series:
    """Per participant, what it lacks of a model's inputs: modalities and characteristic columns
    (``'dwi; worry'``), empty when it has everything."""
    parts = [np.where(cache.has(m), "", m) for m in sorted(imaging)]
    parts += [np.where(cache.table[c].isna().to_numpy(), c, "") for c in columns]
    if not parts:
        return pd.Series("", index=cache.table.index)
    return pd.Series(["; ".join(p for p in row if p) for row in zip(*parts, strict=True)], index=cache.table.index)


def usable(cache: Cache, imaging, columns) -> np.ndarray:
    """Participants who have every one of a model's modalities and characteristic columns."""
    ok = np.ones(len(cache.table), bool)
    for m in imaging:
        ok &= cache.has(m)
    for c in columns:
        ok &= cache.table[c].notna().to_numpy()
    return ok


class BatchReader:
    """Reads batches of one model's inputs from a cache.

    Parameters
    ----------
    cache : Cache
    channels : list of str
        Imaging channels in the order they are stacked (``CHANNEL_ORDER``); empty for none.
    connectivity : bool
        Whether the model reads connectivity.
    metadata : ndarray or None
        The normalised metadata matrix of every participant (None: the model uses none).
    voxel : callable, optional
        The fitted voxel standardiser.
    source : ndarray, optional
        Row whose images each participant reads (a control that shuffles images); default itself.
    diagnostic : bool
        Replace every input by a constant (tests the pipeline only).
    """

    def __init__(self, cache: Cache, channels, connectivity: bool, metadata=None, voxel=None, source=None,
                 diagnostic: bool = False):
        self.channels = list(channels)
        self.channel_arrays = [cache.volume_array(m) for m in self.channels]
        self.conn = cache.connectivity() if connectivity else None
        self.meta, self.voxel, self.diagnostic = metadata, voxel, diagnostic
        self.source = np.arange(len(cache.table)) if source is None else source

    def __call__(self, rows, augment=None, rng=None) -> dict[str, torch.Tensor]:
        """The inputs of ``rows`` (positions in the cache); ``augment(x, rng)`` on the volumes."""
        rows = np.asarray(rows)
        src = self.source[rows]
        order = np.argsort(src)  # memmaps read fastest in order
        srt, back = src[order], np.argsort(order)
        out = {}
        if self.channel_arrays:
            x = torch.from_numpy(np.stack([np.asarray(a[srt]) for a in self.channel_arrays], 1)[back]).float()
            if self.diagnostic:
                x = torch.full_like(x, 0.5)
            if self.voxel is not None:
                x = self.voxel(x)
            if augment is not None:
                x = augment(x, rng)
            out["volumes"] = x  # B x C x S x S x S
        if self.conn is not None:
            c = torch.from_numpy(np.asarray(self.conn[srt], np.float32)[back])
            out["connectivity"] = torch.full_like(c, 0.25) if self.diagnostic else c  # B x R(R-1)/2
        if self.meta is not None:
            m = torch.from_numpy(self.meta[rows])
            out["metadata"] = torch.full_like(m, 1.0) if self.diagnostic else m  # B x 24
        return out
