"""The cache: every volume decoded, resized and normalised once, then memory-mapped.

Per modality one uncompressed ``float16`` array ``N x S x S x S`` (``np.load(mmap_mode='r')``),
the connectivity upper triangles (``float32``, ``N x R(R-1)/2``) and a table of participants
(id, split, which modalities they have, the characteristics) beside them.

Normalisation (SPEC): each volume on its own, z-scored, then rescaled to [-1, 1]; nothing is
fitted. Connectivity values enter as they are.

The cache folder's name holds a key of the sources (paths, sizes, modification times, the
metadata) and the options (side, format version): a change makes a new cache. It is built in
a temporary folder and renamed when complete, so an interrupted build is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from legibility.data.layout import ID, MODALITIES, Dataset
from legibility.errors import DataError
from legibility.study import IMAGING_KEYS, TARGETS

__all__ = ["Cache", "build_cache", "cache_key", "load_volume", "mean_connectivity", "mean_volumes",
           "normalise_volume", "resize_volume"]

FORMAT_VERSION = 2  # 2: anti-aliased resize (caches of version 1 are rebuilt)
SIDES = (32, 64, 128)
COMPLETE = "complete.json"


def normalise_volume(vol: np.ndarray) -> np.ndarray:
    """Z-score the volume, then rescale it to [-1, 1] (SPEC: each volume on its own)."""
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


def cache_key(ds: Dataset, side: int) -> str:
    """Hash of the sources (paths, sizes, mtimes, metadata) and the options."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT_VERSION, "side": side}).encode())
    cols = [ID, "split", *[k for k in TARGETS if k in ds.table.columns]]
    h.update(pd.util.hash_pandas_object(ds.table[cols], index=False).to_numpy().tobytes())
    seen = set()
    for m in MODALITIES:
        for p in ds.table[f"path_{m}"]:
            f = str(p).split("::")[0]
            if f and f not in seen:
                seen.add(f)
                st = os.stat(f)
                h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


@dataclass
class Cache:
    """An opened cache: the participants table and memory-mapped arrays."""

    path: Path
    table: pd.DataFrame  # one row per participant, in array order
    side: int

    @classmethod
    def open(cls, path) -> Cache:
        path = Path(path)
        info_file = path / COMPLETE
        if not info_file.exists():
            raise DataError(f"{path} is not a complete cache (no {COMPLETE}); rebuild it.")
        info = json.loads(info_file.read_text())
        table = pd.read_csv(path / "participants.csv", dtype={ID: str})
        return cls(path=path, table=table, side=int(info["side"]))

    def volumes(self, modality: str) -> np.ndarray:
        """``N x S x S x S`` float16, memory-mapped (zeros where the participant lacks it)."""
        return np.load(self.path / f"{modality}.npy", mmap_mode="r")

    def connectivity(self) -> np.ndarray:
        return np.load(self.path / "connectivity.npy", mmap_mode="r")

    def has(self, modality: str) -> np.ndarray:
        return self.table[f"has_{modality}"].to_numpy(bool)


def _fill_volumes(ds, side, arr, modality, workers, bar):
    col = ds.table[f"path_{modality}"].tolist()
    ids = ds.table[ID].tolist()

    def work(i):
        if not col[i]:
            return i, None
        return i, normalise_volume(resize_volume(load_volume(col[i], ids[i], modality), side))

    with ThreadPoolExecutor(workers) as pool:
        for i, vol in pool.map(work, range(len(col))):
            if vol is not None:
                arr[i] = vol.astype(np.float16)
            bar.update()


def _matrices(f: str) -> np.ndarray:
    """A ``.npy`` of matrices (memory-mapped), or one R x R matrix in a ``.tsv``/``.csv`` (BIDS)."""
    if f.endswith((".tsv", ".csv")):
        return np.loadtxt(f, delimiter="," if f.endswith(".csv") else None, ndmin=2)
    return np.load(f, mmap_mode="r")


def _fill_connectivity(ds, tmp: Path):
    col = ds.table["path_connectivity"].tolist()
    files: dict[str, np.ndarray] = {}
    n_edges = None
    for ref in col:
        if ref:
            f = ref.split("::")[0]
            if f not in files:
                files[f] = _matrices(f)
            r = files[f].shape[-1]
            n_edges = r * (r - 1) // 2
            break
    if n_edges is None:
        np.save(tmp / "connectivity.npy", np.zeros((len(col), 0), np.float32))
        return
    out = np.lib.format.open_memmap(tmp / "connectivity.npy", "w+", np.float32, (len(col), n_edges))
    r = int(round((1 + np.sqrt(1 + 8 * n_edges)) / 2))
    iu = np.triu_indices(r, k=1)
    for i, ref in enumerate(col):
        if not ref:
            continue
        f, _, row = ref.partition("::")
        if row and f not in files:
            files[f] = _matrices(f)
        mat = np.asarray(files[f][int(row)]) if row else np.asarray(_matrices(f))  # one file each: not kept
        if mat.shape != (r, r):
            raise DataError(f"Participant {ds.table[ID].iat[i]}: connectivity matrix in {f} has "
                            f"shape {mat.shape}; expected {(r, r)} like the others.")
        if not np.isfinite(mat).all():
            raise DataError(f"Participant {ds.table[ID].iat[i]}: connectivity matrix in {f} "
                            f"contains NaN or infinite values.")
        out[i] = mat[iu]
    out.flush()


def build_cache(ds: Dataset, side: int = 64, root=None, workers: int | None = None,
                progress: bool = True) -> Cache:
    """Build (or reuse) the cache of ``ds`` at ``side``^3.

    Parameters
    ----------
    ds : Dataset
        From :func:`legibility.data.layout.load_dataset`.
    side : {32, 64, 128}
        Working side of the volumes.
    root : path, optional
        Folder holding caches; default ``<dataset>/_cache`` (``<manifest dir>/_cache``).
    """
    from tqdm.auto import tqdm

    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}; got {side}.")
    root = Path(root) if root else (ds.root.parent if ds.root.is_file() else ds.root) / "_cache"
    key = cache_key(ds, side)
    final = root / f"side{side}-{key}"
    if (final / COMPLETE).exists():
        return Cache.open(final)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".building-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.perf_counter()
    try:
        n = len(ds.table)
        workers = workers or min(os.cpu_count() or 1, 8)
        total = sum(int(ds.has(m).sum()) for m in IMAGING_KEYS)
        with tqdm(total=total, desc=f"cache {side}^3", unit="vol", disable=not progress) as bar:
            for m in IMAGING_KEYS:
                arr = np.lib.format.open_memmap(tmp / f"{m}.npy", "w+", np.float16, (n, *(side,) * 3))
                _fill_volumes(ds, side, arr, m, workers, bar)
                arr.flush()
                del arr
        _fill_connectivity(ds, tmp)
        table = ds.table[[ID, "split"]].copy()
        for m in MODALITIES:
            table[f"has_{m}"] = ds.has(m).to_numpy()
        for k in TARGETS:
            table[k] = ds.table[k].to_numpy()
        table.to_csv(tmp / "participants.csv", index=False)
        info = {"key": key, "side": side, "n": n, "source": str(ds.root),
                "format": FORMAT_VERSION, "seconds": round(time.perf_counter() - t0, 2)}
        (tmp / COMPLETE).write_text(json.dumps(info, indent=2))
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same cache first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Cache.open(final)


def mean_volumes(c: Cache, modalities=IMAGING_KEYS, chunk: int = 64) -> dict[str, np.ndarray]:
    """Mean normalised volume of each modality over the participants who have it."""
    out = {}
    for m in modalities:
        arr, has = c.volumes(m), c.has(m)
        total = np.zeros((c.side,) * 3, np.float64)
        for s in range(0, len(arr), chunk):
            part = np.asarray(arr[s:s + chunk], np.float32)[has[s:s + chunk]]
            total += part.sum(0)
        out[m] = (total / max(has.sum(), 1)).astype(np.float32)
    return out


def mean_connectivity(c: Cache) -> np.ndarray:
    """Mean R x R connectivity matrix rebuilt from the cached upper triangles."""
    tri = np.asarray(c.connectivity(), np.float64)[c.has("connectivity")].mean(0)
    r = int(round((1 + np.sqrt(1 + 8 * len(tri))) / 2))
    mat = np.eye(r)
    iu = np.triu_indices(r, k=1)
    mat[iu] = tri
    mat.T[iu] = tri
    return mat
