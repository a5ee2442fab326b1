"""Reading the sources, one file at a time: a volume decoded, checked, resized and normalised; a
connectivity matrix read and checked. The cache build and ``legibility check``
(:func:`legibility.data.cache.verify_sources`) both decode with these, so check refuses
everything a build would, naming the file and the participant.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np

from legibility.data.layout import ID, Dataset
from legibility.errors import DataError

__all__ = ["connectivity_shape", "load_matrix", "load_volume", "normalise_volume", "resize_volume"]


def normalise_volume(vol: np.ndarray) -> np.ndarray:
    """Z-score the volume, then rescale it to [-1, 1] (the paper's: each volume on its own)."""
    vol = np.asarray(vol, dtype=np.float32)
    sd = vol.std()
    z = (vol - vol.mean()) / (sd if sd > 0 else 1.0)
    lo, hi = z.min(), z.max()
    if hi - lo <= 0:
        return np.zeros_like(z)
    return 2.0 * (z - lo) / (hi - lo) - 1.0


def resize_volume(vol: np.ndarray, side: int) -> np.ndarray:
    """Resize to ``side``^3 with MONAI's ``Resize``: trilinear, and when shrinking by a factor
    k a Gaussian low-pass first (``anti_aliasing``), sigma = 0.375 k input voxels, which halves
    the amplitude at the new grid's Nyquist frequency (1.5 voxels from 128^3 to 32^3, as
    MONAI's and scikit-image's default; 0.75 from 128^3 to 64^3, where their 0.5 would let
    a third of the aliased energy through).

    Trilinear interpolation alone reads 2 of every 4 voxels along each axis from 128^3 to
    32^3, so detail finer than the new voxel folds back as coarse false patterns (aliasing);
    the low-pass removes that detail first (tests/test_resize.py shows it on fine stripes).
    """
    if vol.shape == (side,) * 3:
        return np.asarray(vol, np.float32)
    import torch
    from monai.transforms import Resize

    sigma = [0.375 * n / side if n > side else 0.0 for n in vol.shape]
    t = torch.from_numpy(np.ascontiguousarray(vol, dtype=np.float32))[None]  # channel first
    out = Resize((side,) * 3, mode="trilinear", align_corners=False, anti_aliasing=True,
                 anti_aliasing_sigma=sigma)(t)
    return np.asarray(out[0], np.float32)


def load_volume(path: str, pid: str, modality: str) -> np.ndarray:
    """Decode one NIfTI volume, turning any failure into an error naming the file."""
    try:
        img = nib.load(path)
        vol = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # truncated gzip, bad header, unreadable file...
        raise DataError(
            f"Participant {pid}: could not decode {modality} volume {path} "
            f"({type(err).__name__}: {err}). The file is corrupt or truncated: re-export it, "
            f"or remove it so the participant is reported as lacking {modality}.") from err
    if vol.ndim == 4 and vol.shape[3] == 1:
        vol = vol[..., 0]
    if vol.ndim != 3:
        raise DataError(f"Participant {pid}: {modality} volume {path} has shape {vol.shape}; "
                        f"a 3D volume is needed.")
    if not np.isfinite(vol).all():
        raise DataError(f"Participant {pid}: {modality} volume {path} contains NaN or infinite "
                        f"values; fix the preprocessing that wrote it.")
    return vol


def load_matrix(ref: str, pid: str, expected: tuple | None = None, opened: dict | None = None) -> np.ndarray:
    """One connectivity matrix (``file.npy`` or ``file.npy::row``), refused when it is not square,
    not of the ``expected`` shape, or holds NaN, naming the file and the participant."""
    f, _, row = ref.partition("::")
    try:
        if row:  # one row of an N x R x R file, opened once for all its participants
            opened = {} if opened is None else opened
            if f not in opened:
                opened[f] = _matrices(f)
            mat = np.asarray(opened[f][int(row)])
        else:
            mat = np.asarray(_matrices(f))
    except Exception as err:
        raise DataError(f"Participant {pid}: could not read the connectivity matrix in {f} "
                        f"({type(err).__name__}: {err}); re-export it as a .npy R x R array.") from err
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or (expected and mat.shape != tuple(expected)):
        want = f"{expected[0]} x {expected[1]} like the others" if expected else "a square R x R matrix"
        raise DataError(f"Participant {pid}: connectivity matrix in {f} is "
                        f"{' x '.join(map(str, mat.shape))}; expected {want}. Use one parcellation for everyone, "
                        f"or leave this participant's connectivity empty.")
    if not np.isfinite(mat).all():
        raise DataError(f"Participant {pid}: connectivity matrix in {f} contains "
                        f"{int((~np.isfinite(mat)).sum())} NaN or infinite value(s); fix the "
                        f"preprocessing that wrote it, or leave this participant's connectivity empty.")
    return mat


def connectivity_shape(ds: Dataset) -> tuple | None:
    """The shape every connectivity matrix must have (the majority's, from the files' headers);
    None when nobody has one. Matrices of another shape are refused, naming them."""
    shapes: dict[tuple, list] = {}
    opened: dict[str, np.ndarray] = {}
    for pid, ref in zip(ds.table[ID], ds.table["path_connectivity"], strict=True):
        if not ref:
            continue
        f, _, row = ref.partition("::")
        if f not in opened:
            try:
                opened[f] = _matrices(f)
            except Exception as err:
                raise DataError(f"Participant {pid}: could not read the connectivity matrix in {f} "
                                f"({type(err).__name__}: {err}); re-export it as a .npy array.") from err
        shape = opened[f].shape[1:] if row else opened[f].shape
        if not row:
            del opened[f]  # one matrix per file (BIDS .tsv): read for its shape, not kept in memory
        shapes.setdefault(tuple(shape), []).append((pid, f))
    if not shapes:
        return None
    major = max(shapes, key=lambda k: len(shapes[k]))
    odd = [(k, v) for k in shapes if k != major for v in shapes[k]]
    if odd or len(major) != 2 or major[0] != major[1]:
        shown = "; ".join(f"participant {pid}: {f} is {' x '.join(map(str, k))}" for k, (pid, f) in odd[:5])
        raise DataError(f"{len(odd)} connectivity matrix(es) differ from the other {len(shapes[major])} "
                        f"({' x '.join(map(str, major))}): {shown}. Use one parcellation for everyone, "
                        f"or leave these participants' connectivity empty." if odd else
                        f"Connectivity matrices must be square R x R; found {major} ({shapes[major][0][1]}).")
    return major


def _matrices(f: str) -> np.ndarray:
    """A ``.npy`` of matrices (memory-mapped), or one R x R matrix in a ``.tsv``/``.csv`` (BIDS)."""
    if f.endswith((".tsv", ".csv")):
        return np.loadtxt(f, delimiter="," if f.endswith(".csv") else None, ndmin=2)
    return np.load(f, mmap_mode="r")
