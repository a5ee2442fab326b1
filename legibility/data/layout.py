"""Datasets on disk: the paper's ``TRAIN/``+``TEST/`` layout and a manifest CSV for other cohorts.

:func:`load_dataset` reads either into a :class:`Dataset`: one table of participants with
their split (``train``, ``val``, ``test``), the characteristics, and where each modality lives.
Volumes are not decoded here (the cache does that); everything else is checked here, and each
problem is reported naming the file, the participant and the field, and what to do.

Splits of the paper's layout: ``TRAIN/`` is the training set; ``TEST/`` sorted by
``biobank_id`` is split alternately, positions 0, 2, 4... test and 1, 3, 5... validation.

Manifest layout: one CSV with ``biobank_id`` (or ``subject_id``), ``split``, one path column
per modality (``t1``, ``flair``, ``dwi``: NIfTI files; ``connectivity``: a ``.npy`` R x R
matrix), and the characteristic columns; relative paths are relative to the CSV.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from legibility import paths
from legibility.data.checks import check_metadata
from legibility.errors import DataError
from legibility.study import IMAGING_KEYS, TARGETS

__all__ = ["Dataset", "load_dataset", "SPLITS"]

SPLITS = ("train", "val", "test")
ID = "biobank_id"
MODALITIES = (*IMAGING_KEYS, "connectivity")


@dataclass
class Dataset:
    """Participants of one dataset, their split and characteristics, and their sources.

    ``table`` has one row per participant: ``biobank_id``, ``split``, the characteristics,
    and per modality a column ``path_<modality>`` (NIfTI path, or for connectivity the row
    of the ``.npy`` file as ``file::row``; empty where the participant lacks it).
    """

    root: Path
    layout: str  # "paper", "manifest" or "bids"
    table: pd.DataFrame
    missing: dict[str, list] = field(default_factory=dict)  # modality -> ids lacking it
    notes: list[str] = field(default_factory=list)

    def split(self, name: str) -> pd.DataFrame:
        return self.table[self.table["split"] == name]

    def has(self, modality: str) -> pd.Series:
        return self.table[f"path_{modality}"].astype(str).str.len() > 0

    def complete(self, modalities) -> pd.Series:
        """Participants that have every one of ``modalities``."""
        ok = pd.Series(True, index=self.table.index)
        for m in modalities:
            if m in MODALITIES:
                ok &= self.has(m)
        return ok

    def report(self) -> str:
        lines = [f"dataset {self.root} ({self.layout} layout): {len(self.table)} participants"]
        head = f"  {'split':<6}" + "".join(f"{m:>14}" for m in ("participants", *MODALITIES))
        lines.append(head)
        for s in SPLITS:
            part = self.table["split"] == s
            counts = [int(part.sum())] + [int((part & self.has(m)).sum()) for m in MODALITIES]
            lines.append(f"  {s:<6}" + "".join(f"{c:>14}" for c in counts))
        for m, ids in self.missing.items():
            if ids:
                shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
                lines.append(f"  {len(ids)} participant(s) lack {m}: {shown} "
                             f"(left out of models that need {m})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _read_metadata(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(
            f"Metadata file {path} is missing. Each split folder needs "
            f"'{path.name}' with a '{ID}' column and the characteristic columns "
            f"({', '.join(list(TARGETS)[:4])}, ...); see the README's data layout.")
    try:
        df = pd.read_csv(path)
    except Exception as err:  # pandas raises several kinds for a broken CSV
        raise DataError(f"Metadata file {path} could not be read as CSV ({err}).") from err
    if ID not in df.columns:
        alt = [c for c in ("eid", "subject_id", "id") if c in df.columns]
        if alt:
            df = df.rename(columns={alt[0]: ID})
        else:
            raise DataError(f"Metadata file {path} has no '{ID}' column; found: "
                            f"{', '.join(df.columns[:8])}. Rename the participant id column.")
    return df


def _unknown_columns(df: pd.DataFrame, source: Path, extra_known=()) -> list[str]:
    known = {ID, "split", *TARGETS, *extra_known}
    notes = []
    for col in df.columns:
        if col in known or col.startswith("Unnamed"):
            continue
        close = difflib.get_close_matches(col.lower(), list(TARGETS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        notes.append(f"unknown column '{col}' in {source.name}{hint}: ignored")
    for n in notes:
        warnings.warn(n, stacklevel=3)
    return notes


def _paper_split(root: Path, folder: str, notes: list[str]):
    base = root / folder
    if not base.is_dir():
        raise DataError(f"Folder {base} is missing: the paper's layout needs {root}/TRAIN and "
                        f"{root}/TEST (or give a manifest CSV instead).")
    meta = _read_metadata(paths.metadata_path(root, folder))
    if meta.empty:
        raise DataError(f"Metadata file {paths.metadata_path(root, folder)} has no participants: "
                        f"the {folder} split is empty.")
    notes += _unknown_columns(meta, paths.metadata_path(root, folder))
    check_metadata(meta, source=paths.metadata_path(root, folder))
    meta = meta.copy()
    meta[ID] = meta[ID].astype(str)
    ids = meta[ID]
    for m in IMAGING_KEYS:
        folder_m = base / paths.MODALITY_DIRS[m]
        present = {p.name.split("_")[0]: str(p) for p in folder_m.glob(f"*_{m}.nii*")} \
            if folder_m.is_dir() else {}
        meta[f"path_{m}"] = ids.map(present).fillna("")
        extra = sorted(set(present) - set(ids))
        if extra:
            notes.append(f"{len(extra)} {m} volume(s) in {folder_m} have no metadata row "
                         f"(e.g. {extra[0]}): ignored")
    npy, txt = paths.fmri_paths(root, folder)
    meta["path_connectivity"] = ""
    if npy.exists() or txt.exists():
        if not (npy.exists() and txt.exists()):
            have, lack = (npy, txt) if npy.exists() else (txt, npy)
            raise DataError(f"{have} needs its companion {lack} (connectivity matrices and "
                            f"their participant ids, one per line).")
        conn_ids = [ln.strip() for ln in txt.read_text().splitlines() if ln.strip()]
        arr = np.load(npy, mmap_mode="r")
        if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
            raise DataError(f"{npy} must hold N x R x R connectivity matrices; found shape "
                            f"{arr.shape}.")
        if arr.shape[0] != len(conn_ids):
            raise DataError(f"{npy} holds {arr.shape[0]} matrices but {txt} lists "
                            f"{len(conn_ids)} ids: they must match one to one.")
        where = {pid: f"{npy}::{i}" for i, pid in enumerate(conn_ids)}
        meta["path_connectivity"] = ids.map(where).fillna("")
    return meta


def _paper(root: Path) -> tuple[pd.DataFrame, list[str]]:
    notes: list[str] = []
    train = _paper_split(root, paths.SPLIT_DIRS["train"], notes)
    train["split"] = "train"
    test = _paper_split(root, paths.SPLIT_DIRS["test"], notes)
    # Sorted by id, alternately test (0, 2, 4...) and validation (1, 3, 5...).
    order = np.argsort(pd.to_numeric(test[ID], errors="coerce").fillna(0).to_numpy(), kind="stable")
    test = test.iloc[order].reset_index(drop=True)
    test["split"] = np.where(np.arange(len(test)) % 2 == 0, "test", "val")
    overlap = set(train[ID]) & set(test[ID])
    if overlap:
        raise DataError(f"{len(overlap)} participant(s) are in both TRAIN and TEST "
                        f"(e.g. {sorted(overlap)[0]}); participants must never cross partitions.")
    return pd.concat([train, test], ignore_index=True), notes


def _manifest(csv: Path) -> tuple[pd.DataFrame, list[str]]:
    df = _read_metadata(csv)
    if "split" not in df.columns:
        raise DataError(f"Manifest {csv} needs a 'split' column with train, val or test.")
    bad = sorted(set(df["split"].astype(str)) - set(SPLITS))
    if bad:
        raise DataError(f"Manifest {csv}: unknown split value(s) {bad}; use train, val or test.")
    notes = _unknown_columns(df, csv, extra_known=MODALITIES)
    check_metadata(df, source=csv)
    df = df.copy()
    df[ID] = df[ID].astype(str)
    for m in MODALITIES:
        col = df[m].fillna("").astype(str) if m in df.columns else pd.Series("", index=df.index)
        df[f"path_{m}"] = [str((csv.parent / p).resolve()) if p else "" for p in col]
    return df.drop(columns=[m for m in MODALITIES if m in df.columns]), notes


def load_dataset(inpath, strict: bool = False, bids=None) -> Dataset:
    """Read and check a dataset (the paper's layout folder, a manifest CSV, or a BIDS dataset).

    Parameters
    ----------
    inpath : path
        A folder with ``TRAIN/`` and ``TEST/``, a manifest ``.csv``, or a BIDS root (a folder
        with ``dataset_description.json``; see :mod:`legibility.data.bids`).
    strict : bool
        Make a participant who lacks a modality an error (the paper kept only participants
        with every modality); otherwise they are reported and left out of the models that
        need that modality.
    bids : BidsOptions, optional
        How to read a BIDS dataset (space, session, run); default: ``BidsOptions.from_env()``.
    """
    root = Path(inpath)
    if not root.exists():
        raise DataError(f"Dataset {root} does not exist. Generate one with "
                        f"`legibility cohort --out {root}` or point --inpath at your data.")
    from legibility.data import bids as bids_layout

    layout = "manifest" if root.is_file() else "bids" if bids_layout.is_bids(root) else "paper"
    if layout == "bids":
        table, notes = bids_layout.read_bids(root, bids)
    else:
        table, notes = (_manifest(root) if root.is_file() else _paper(root))
    table = table.reset_index(drop=True)
    for s in SPLITS:
        if not (table["split"] == s).any():
            raise DataError(f"The {s} split of {root} is empty: every split needs participants.")
    dup = table[ID][table[ID].duplicated()]
    if len(dup):
        raise DataError(f"Participant {dup.iloc[0]} appears more than once in {root}.")
    ds = Dataset(root=root, layout=layout, table=table, notes=notes)
    for m in MODALITIES:
        lacking = table.loc[~ds.has(m), ID].tolist()
        if lacking and len(lacking) < len(table):
            ds.missing[m] = lacking
        elif lacking:
            ds.notes.append(f"no participant has {m}")
    if strict and ds.missing:
        m, ids = next(iter(ds.missing.items()))
        raise DataError(f"{len(ids)} participant(s) lack {m} (e.g. {ids[0]}) and --strict is "
                        f"set: add the missing files or drop these participants.")
    _check_volume_headers(ds)
    return ds


def _check_volume_headers(ds: Dataset):
    """Every NIfTI must be readable (header) and all share one 3D shape."""
    shapes: dict[tuple, str] = {}
    for m in IMAGING_KEYS:
        for pid, p in zip(ds.table[ID], ds.table[f"path_{m}"], strict=True):
            if not p:
                continue
            try:
                shape = nib.load(p).shape
            except Exception as err:
                raise DataError(f"Participant {pid}: {m} volume {p} is not a readable NIfTI "
                                f"({err}). Re-export or remove the file.") from err
            if len(shape) == 4 and shape[3] == 1:
                shape = shape[:3]
            if len(shape) != 3:
                raise DataError(f"Participant {pid}: {m} volume {p} has shape {shape}; a 3D "
                                f"volume is needed.")
            shapes.setdefault(shape, p)
    if len(shapes) > 1:
        (s1, p1), (s2, p2) = list(shapes.items())[:2]
        raise DataError(f"Volumes differ in shape: {p1} is {s1} but {p2} is {s2}. Resample "
                        f"all volumes to one grid first (the paper's inputs are 128^3).")
