"""The cache: every volume decoded, resized and normalised once, then memory-mapped.

Per modality one uncompressed ``float16`` array ``N x S x S x S`` (``np.load(mmap_mode='r')``),
the connectivity upper triangles (``float32``, ``N x R(R-1)/2``) and a table of participants
(id, split, which modalities they have, the characteristics) beside them.

Normalisation (the paper's): each volume on its own, z-scored, then rescaled to [-1, 1]; nothing is
fitted. Connectivity values enter as they are.

The cache folder's name holds a key of the sources (paths, sizes, modification times, the
metadata) and the options (side, format version): a change makes a new cache. It is built in
a temporary folder and renamed when complete, so an interrupted build is never used. The size
and SHA-256 of every file are recorded in its ``complete.json``; a cache whose files no longer
match (truncated, overwritten) is named, set aside and built again.

One validation path: :mod:`legibility.data.sources` decodes for both the build and
:func:`verify_sources` (``legibility check``) decode with, so ``check`` refuses everything a
build would, naming the file and the participant. A passed verdict is kept beside the caches,
keyed by the sources' key (``verified-<key>.json``): a second ``check`` decodes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.data.layout import ID, MODALITIES, Dataset, as_grid
from legibility.data.problems import Problem, report_all
from legibility.data.sources import connectivity_shape, load_matrix, load_volume, normalise_volume, resize_volume
from legibility.errors import DataError, SettingError
from legibility.files import (
    DamagedFileError,
    DiskFullError,
    atomic_write,
    damage,
    disk_full_message,
    file_record,
    is_disk_full,
    read_json,
)
from legibility.study import IMAGING_KEYS, TARGETS

__all__ = ["Cache", "build_cache", "cache_key", "mean_connectivity", "mean_volumes", "source_key", "verify_sources"]

FORMAT_VERSION = 3  # 2: anti-aliased resize; 3: ids kept as text with the id column's name, empty cells
SIDES = (32, 64, 128)
COMPLETE = "complete.json"


def source_key(ds: Dataset) -> str:
    """Hash of the sources: paths, sizes and modification times of the files, the table of
    participants and characteristics, the id column's name."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT_VERSION, "id": ds.id_name}).encode())
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


def cache_key(ds: Dataset, side: int) -> str:
    """Hash of the sources (:func:`source_key`) and the options."""
    return hashlib.sha256(f"{source_key(ds)}|side{side}".encode()).hexdigest()[:20]


def _cache_root(ds: Dataset, root=None) -> Path:
    return Path(root) if root else (ds.root.parent if ds.root.is_file() else ds.root) / "_cache"


def _verdict_path(ds: Dataset, root=None, key: str | None = None) -> Path:
    return _cache_root(ds, root) / f"verified-{key or source_key(ds)}.json"


def _write_verdict(path: Path, info: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(info, indent=2))


def _damaged_file(folder: Path) -> str | None:
    """The first file of a complete cache that is not as recorded when it was built, as a phrase
    naming it; None when all match (or none was recorded)."""
    try:
        recorded = read_json(folder / COMPLETE).get("files", {})
    except DamagedFileError as err:
        return str(err)
    for name, record in recorded.items():
        problem = damage(folder / name, record)
        if problem:
            return f"{folder / name} is damaged: {problem}"
    return None


def _set_aside(folder: Path, problem: str):
    """Move a damaged cache out of the way (removed once no reader holds it open), saying why."""
    print(f"The cache {folder} is not as it was built ({problem}); it is built again.", file=sys.stderr, flush=True)
    aside = folder.with_name(f".damaged-{folder.name}-{os.getpid()}")
    try:
        os.replace(folder, aside)
    except OSError:  # another process set it aside first
        return
    shutil.rmtree(aside, ignore_errors=True)


def verify_sources(ds: Dataset, root=None, workers: int | None = None, progress: bool = True) -> dict:
    """Decode every volume and connectivity matrix once, with the same functions a cache build
    uses, and refuse what a build would refuse (truncated or unreadable files, NaN voxels,
    matrices of another shape or with NaN), listing each problem with its file and participant.

    A passed verdict is written beside the caches, keyed by :func:`source_key`; when it is
    there already nothing is decoded. Returns the verdict (``volumes``, ``matrices``, ``seconds``,
    ``reused``; ``problems``, their count, when they were gathered).

    Raises
    ------
    DataError
        Naming every problem found (the first 10 shown); inside
        :func:`legibility.data.problems.gathering` each is kept instead.
    """
    from tqdm.auto import tqdm

    key = source_key(ds)
    path = _verdict_path(ds, root, key)
    if path.exists():
        return {**json.loads(path.read_text()), "reused": True}
    t0 = time.perf_counter()
    problems: list[Problem] = []
    jobs = [(pid, p, m) for m in IMAGING_KEYS
            for pid, p in zip(ds.table[ID], ds.table[f"path_{m}"], strict=True) if p]

    def work(job):
        try:
            load_volume(job[1], job[0], job[2])
        except DataError as err:
            return Problem(job[1], job[0], str(err))
        return None

    with ThreadPoolExecutor(workers or min(os.cpu_count() or 1, 8)) as pool, \
            tqdm(total=len(jobs), desc="check volumes", unit="vol", disable=not progress) as bar:
        for msg in pool.map(work, jobs):
            if msg:
                problems.append(msg)
            bar.update()
    n_mat = 0
    try:
        expected = connectivity_shape(ds)
    except DataError as err:
        problems.append(Problem(str(ds.root), "", str(err)))
        expected = None
    if expected is not None:
        opened: dict[str, np.ndarray] = {}
        for pid, ref in zip(ds.table[ID], ds.table["path_connectivity"], strict=True):
            if ref:
                try:
                    load_matrix(ref, pid, expected, opened)
                    n_mat += 1
                except DataError as err:
                    problems.append(Problem(ref.partition("::")[0], pid, str(err)))
    if problems:
        report_all(problems, f"{len(problems)} problem(s) in the files of {ds.root}")
        return {"volumes": len(jobs), "matrices": n_mat, "reused": False, "problems": len(problems)}
    info = {"key": key, "volumes": len(jobs), "matrices": n_mat, "seconds": round(time.perf_counter() - t0, 2)}
    _write_verdict(path, info)
    return {**info, "reused": False}


@dataclass
class Cache:
    """An opened cache: the participants table and memory-mapped arrays."""

    path: Path
    table: pd.DataFrame  # one row per participant, in array order
    side: int
    id_name: str = ID  # the id column's name in the user's files, used again in the outputs
    id_prefix: str = ""  # what the user's ids have before ours (BIDS: "sub-")
    source: str = ""  # the dataset the cache was built from

    @classmethod
    def open(cls, path) -> Cache:
        path = Path(path)
        info_file = path / COMPLETE
        if not info_file.exists():
            raise DataError(f"{path} is not a complete cache (no {COMPLETE}); rebuild it.")
        info = json.loads(info_file.read_text())
        table = pd.read_csv(path / "participants.csv", dtype={ID: str})
        return cls(path=path, table=table, side=int(info["side"]), id_name=info.get("id_column", ID),
                   id_prefix=info.get("id_prefix", ""), source=info.get("source", str(path)))

    @property
    def grids(self) -> dict:
        """Per modality, the grid of the source volumes (the majority's; see ``layout.volume_grid``)."""
        info = json.loads((self.path / COMPLETE).read_text())
        return {m: as_grid(g) for m, g in info.get("grids", {}).items()}

    def output_ids(self) -> np.ndarray:
        """The participants' ids as the user's files write them (BIDS: with ``sub-``), in array order."""
        return (self.id_prefix + self.table[ID].astype(str)).to_numpy()

    def volume_array(self, modality: str) -> np.ndarray:
        """One modality's volumes: ``N x S x S x S`` float16, memory-mapped (zeros where the participant lacks it)."""
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


def _array_file(path: Path, dtype, shape: tuple) -> np.ndarray:
    """A new array file, mapped for writing, its whole size taken on the disk at once: a full disk
    is an error here, not a crash (SIGBUS) when a page of the map is written later."""
    arr = np.lib.format.open_memmap(path, "w+", dtype, shape)
    with open(path, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, path.stat().st_size)
    return arr


def _cache_bytes(n: int, side: int, shape: tuple | None) -> int:
    """About what a cache of ``n`` participants at ``side`` takes on the disk."""
    edges = shape[0] * (shape[0] - 1) // 2 if shape else 0
    return n * (len(IMAGING_KEYS) * side**3 * 2 + edges * 4) + n * 200


def _fill_connectivity(ds, tmp: Path, shape: tuple | None):
    col = ds.table["path_connectivity"].tolist()
    if shape is None:
        np.save(tmp / "connectivity.npy", np.zeros((len(col), 0), np.float32))
        return
    r = shape[0]
    out = _array_file(tmp / "connectivity.npy", np.float32, (len(col), r * (r - 1) // 2))
    iu = np.triu_indices(r, k=1)
    opened: dict[str, np.ndarray] = {}
    for i, ref in enumerate(col):
        if ref:
            out[i] = load_matrix(ref, ds.table[ID].iat[i], shape, opened)[iu]
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
        raise SettingError(f"side must be one of {SIDES}; got {side}.")
    root = _cache_root(ds, root)
    key = cache_key(ds, side)
    final = root / f"side{side}-{key}"
    if (final / COMPLETE).exists():
        problem = _damaged_file(final)
        if problem is None:
            return Cache.open(final)
        _set_aside(final, problem)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".building-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t0 = time.perf_counter()
    shape = None
    try:
        shape = connectivity_shape(ds)  # before the long part: refuses odd matrices at once
        n = len(ds.table)
        workers = workers or min(os.cpu_count() or 1, 8)
        total = sum(int(ds.has(m).sum()) for m in IMAGING_KEYS)
        with tqdm(total=total, desc=f"cache {side}^3", unit="vol", disable=not progress) as bar:
            for m in IMAGING_KEYS:
                arr = _array_file(tmp / f"{m}.npy", np.float16, (n, *(side,) * 3))
                _fill_volumes(ds, side, arr, m, workers, bar)
                arr.flush()
                del arr
        _fill_connectivity(ds, tmp, shape)
        table = ds.table[[ID, "split"]].copy()
        for m in MODALITIES:
            table[f"has_{m}"] = ds.has(m).to_numpy()
        for k in TARGETS:
            table[k] = ds.table[k].to_numpy()
        table.to_csv(tmp / "participants.csv", index=False)
        info = {"key": key, "side": side, "n": n, "source": str(ds.root), "id_column": ds.id_name,
                "id_prefix": ds.id_prefix, "grids": ds.grids,
                "format": FORMAT_VERSION, "seconds": round(time.perf_counter() - t0, 2),
                "files": {f.name: file_record(f) for f in sorted(tmp.iterdir())}}  # _damaged_file checks these
        atomic_write(tmp / COMPLETE, json.dumps(info, indent=2))
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same cache first
            shutil.rmtree(tmp, ignore_errors=True)
        # every file was decoded by the checks `check` uses: record the verdict for it
        _write_verdict(_verdict_path(ds, root), {"key": source_key(ds), "volumes": total,
                                                 "matrices": int(ds.has("connectivity").sum()), "seconds": 0.0})
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            raise DiskFullError(disk_full_message(final, _cache_bytes(len(ds.table), side, shape))) from err
        raise
    return Cache.open(final)


def mean_volumes(c: Cache, modalities=IMAGING_KEYS, chunk: int = 64) -> dict[str, np.ndarray]:
    """Mean normalised volume of each modality over the participants who have it."""
    out = {}
    for m in modalities:
        arr, has = c.volume_array(m), c.has(m)
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
