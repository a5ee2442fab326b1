"""Datasets on disk: the paper's ``TRAIN/``+``TEST/`` layout and a manifest CSV for other cohorts.

(~350 lines: most are the checks of messy tables, each with its error message; they stay
beside the readers they guard.)

:func:`load_dataset` reads either into a :class:`Dataset`: one table of participants with
their split (``train``, ``val``, ``test``), the characteristics, and where each modality lives.
Volumes are not decoded here (the cache does that); everything else is checked here, and each
problem is reported naming the file, the participant and the field, and what to do.

Splits of the paper's layout: ``TRAIN/`` is the training set; ``TEST/`` sorted by
``biobank_id`` is split alternately, positions 0, 2, 4... test and 1, 3, 5... validation.

Manifest layout: one CSV with ``biobank_id`` (or ``subject_id``, ``eid``...), ``split``, one path
column per modality (``t1``, ``flair``, ``dwi``: NIfTI files; ``connectivity``: a ``.npy`` R x R
matrix), and the characteristic columns; relative paths are relative to the CSV. A manifest to
predict on needs no ``split`` and only the columns its model uses.

Tables as people write them: the delimiter is sniffed (``,``, ``;`` with decimal commas, tab),
ids are read as text (``0000001`` stays ``0000001``) and the id column's own name is kept for
the outputs; empty characteristic cells are allowed (each model leaves out the participants
lacking its own target or metadata inputs); UK Biobank field-id columns (``21003-2.0``) are
recognised and pointed to ``legibility ukb``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from legibility import paths
from legibility.data.checks import UKB_FIELD, check_metadata, missingness, unknown_columns, unknown_splits
from legibility.data.problems import problem
from legibility.errors import DataError
from legibility.study import IMAGING_KEYS, TARGETS

__all__ = ["Dataset", "as_grid", "describe_grid", "load_dataset", "resizable", "SPLITS", "volume_grid"]

SPLITS = ("train", "val", "test")
ID = "biobank_id"
ID_ALIASES = (ID, "eid", "subject_id", "participant_id", "id")  # renamed to ID inside, kept for outputs
MODALITIES = (*IMAGING_KEYS, "connectivity")


@dataclass
class Dataset:
    """Participants of one dataset, their split and characteristics, and their sources.

    ``table`` has one row per participant: ``biobank_id`` (text), ``split`` (empty in a dataset
    read only to predict on), the 25 characteristics (NaN where unknown or the column is absent),
    and per modality a column ``path_<modality>`` (NIfTI path, or for connectivity the row of
    the ``.npy`` file as ``file::row``; empty where the participant lacks it).
    """

    root: Path
    layout: str  # "paper", "manifest" or "bids"
    table: pd.DataFrame
    id_name: str = ID  # the id column's name in the user's files, used again in the outputs
    id_prefix: str = ""  # what the user's ids have before ours (BIDS: "sub-"), put back in the outputs
    missing: dict[str, list] = field(default_factory=dict)  # modality -> ids lacking it
    grids: dict[str, dict] = field(default_factory=dict)  # modality -> its volumes' grid (the majority's)
    volume_grids: dict[tuple, dict] = field(default_factory=dict)  # (id, modality) -> that volume's grid
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

    def report(self, notes: bool = True) -> str:
        """Participants and modalities per split, empty cells, who lacks what; the notes too
        unless ``notes`` is False."""
        lines = [f"dataset {self.root} ({self.layout} layout): {len(self.table)} participants"]
        head = f"  {'split':<6}" + "".join(f"{m:>14}" for m in ("participants", *MODALITIES))
        lines.append(head)
        splits = [s for s in SPLITS if (self.table["split"] == s).any()]
        for s in [*splits, "all"]:
            part = self.table["split"] == s if s != "all" else pd.Series(True, index=self.table.index)
            counts = [int(part.sum())] + [int((part & self.has(m)).sum()) for m in MODALITIES]
            lines.append(f"  {s:<6}" + "".join(f"{c:>14}" for c in counts))
        gaps = missingness(self.table, splits)
        if len(gaps):
            lines.append("  empty characteristic cells (a model leaves out only the participants lacking its "
                         "own target or metadata inputs):")
            lines += ["    " + ln for ln in gaps.to_string(index=False, float_format=lambda v: f"{v:.1f}")
                      .splitlines()]
        else:
            lines.append("  every characteristic is filled in for every participant")
        for m, ids in self.missing.items():
            if ids:
                shown = ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
                lines.append(f"  {len(ids)} participant(s) lack {m}: {shown} "
                             f"(left out of models that need {m})")
        lines += [f"  note: {n}" for n in self.notes] if notes else []
        return "\n".join(lines)


def read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """Read a CSV as people write them: the delimiter sniffed from the header (``,`` ``;`` or
    tab; with ``;`` decimal commas are read too), the id column as text. Returns the table with
    the id column renamed to ``biobank_id`` and the id column's own name."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        header = next((ln for ln in f if ln.strip()), "")
    sep = max((",", ";", "\t"), key=header.count)
    names = [c.strip().strip('"') for c in header.rstrip("\r\n").split(sep)]
    id_name = next((c for c in ID_ALIASES if c in names), None)
    try:
        df = pd.read_csv(path, sep=sep, encoding="utf-8-sig", dtype={id_name: str} if id_name else None)
    except Exception as err:  # pandas raises several kinds for a broken CSV
        raise DataError(f"{path} could not be read as CSV ({err}).") from err
    fields = [c for c in df.columns if UKB_FIELD.match(str(c))]
    if fields and not any(k in df.columns for k in TARGETS):
        raise DataError(f"{path} looks like a UK Biobank export (field-id columns such as "
                        f"{', '.join(fields[:3])}): convert it to the 25 characteristics with "
                        f"`legibility ukb` first (see docs/data.md).")
    if id_name is None:
        raise DataError(f"{path} has no participant id column ({' or '.join(ID_ALIASES[:3])}); found: "
                        f"{', '.join(map(str, df.columns[:8]))}. Rename the participant id column.")
    if sep == ";":  # European spreadsheets: 63,5 means 63.5
        for k in TARGETS:
            if k in df.columns and not pd.api.types.is_numeric_dtype(df[k]):
                df[k] = df[k].str.replace(",", ".", regex=False)
    return df.rename(columns={id_name: ID}), id_name


def _read_metadata(path: Path) -> tuple[pd.DataFrame, str]:
    if not path.exists():
        raise DataError(
            f"Metadata file {path} is missing. Each split folder needs "
            f"'{path.name}' with a '{ID}' column and the characteristic columns "
            f"({', '.join(list(TARGETS)[:4])}, ...); see docs/data.md.")
    return read_table(path)


def _paper_split(root: Path, folder: str, notes: list[str]):
    base = root / folder
    if not base.is_dir():
        raise DataError(f"Folder {base} is missing: the paper's layout needs {root}/TRAIN and "
                        f"{root}/TEST (or give a manifest CSV instead).")
    meta, id_name = _read_metadata(paths.metadata_path(root, folder))
    if meta.empty:
        raise DataError(f"Metadata file {paths.metadata_path(root, folder)} has no participants: "
                        f"the {folder} split is empty.")
    notes += unknown_columns(meta, paths.metadata_path(root, folder))
    notes += check_metadata(meta, source=paths.metadata_path(root, folder))
    meta = meta.copy()
    meta.attrs["id_name"] = id_name
    ids = meta[ID]
    for m in IMAGING_KEYS:
        folder_m = base / paths.MODALITY_DIRS[m]
        present = {p.name.split("_")[0]: str(p) for p in folder_m.glob(f"*_{m}.nii*")} \
            if folder_m.is_dir() else {}
        meta[f"path_{m}"] = ids.map(present).fillna("")
        notes += _misnamed_volumes(folder_m, m, present.values())
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


def _misnamed_volumes(folder: Path, modality: str, taken) -> list[str]:
    """Notes (also warned) on the NIfTI files of a modality's folder that match no volume name
    (``<id>_<modality>.nii.gz``), each with the name it was likely meant to have."""
    if not folder.is_dir():
        return []
    taken = {Path(p).name for p in taken}
    stray = sorted(p for p in folder.glob("*.nii*") if p.name not in taken)
    if not stray:
        return []
    shown = "; ".join(f"{p.name} (did you mean {p.name.split('_')[0]}_{modality}.nii.gz?)" for p in stray[:5])
    note = (f"{len(stray)} file(s) in {folder} match no {modality} volume name (<id>_{modality}.nii.gz), so "
            f"their participants lack {modality}: {shown}{' ...' if len(stray) > 5 else ''}. Rename them.")
    warnings.warn(note, stacklevel=4)
    return [note]


def _paper(root: Path) -> tuple[pd.DataFrame, list[str], str]:
    notes: list[str] = []
    train = _paper_split(root, paths.SPLIT_DIRS["train"], notes)
    id_name = train.attrs["id_name"]
    train["split"] = "train"
    test = _paper_split(root, paths.SPLIT_DIRS["test"], notes)
    # Sorted by id (as numbers where every id is one), alternately test (0, 2, 4...) and validation (1, 3, 5...).
    num = pd.to_numeric(test[ID], errors="coerce")
    order = np.argsort(num.to_numpy() if num.notna().all() else test[ID].to_numpy(), kind="stable")
    test = test.iloc[order].reset_index(drop=True)
    test["split"] = np.where(np.arange(len(test)) % 2 == 0, "test", "val")
    overlap = set(train[ID]) & set(test[ID])
    if overlap:
        raise DataError(f"{len(overlap)} participant(s) are in both TRAIN and TEST "
                        f"(e.g. {sorted(overlap)[0]}); participants must never cross partitions.")
    return pd.concat([train, test], ignore_index=True), notes, id_name


def _refuse_table_of_a_dataset(csv: Path, columns) -> None:
    """A dataset's participants table given alone (no image columns, inside a BIDS root or a
    split folder of the paper's layout): refused, naming the folder to give instead."""
    from legibility.data.bids import is_bids

    if any(m in columns for m in MODALITIES):
        return
    for folder in (csv.parent, csv.parent.parent):
        if is_bids(folder) or all((folder / d).is_dir() for d in paths.SPLIT_DIRS.values()):
            raise DataError(f"{csv} is the participants table of the dataset {folder}: alone it has no images. "
                            f"Give the dataset folder: --inpath {folder}")


def _manifest(csv: Path, require_split: bool) -> tuple[pd.DataFrame, list[str], str]:
    df, id_name = read_table(csv)
    _refuse_table_of_a_dataset(csv, df.columns)
    if "split" not in df.columns and require_split:
        raise DataError(f"Manifest {csv} needs a 'split' column with train, val or test to train or "
                        f"check for training (`legibility predict` and `check --predict` need none).")
    df["split"] = df["split"].fillna("").astype(str).str.strip() if "split" in df.columns else ""
    if require_split:
        unknown_splits(df, csv, "use train, val or test")
    notes = unknown_columns(df, csv, extra_known=MODALITIES)
    notes += check_metadata(df, source=csv)
    df = df.copy()
    for m in MODALITIES:
        col = df[m].fillna("").astype(str) if m in df.columns else pd.Series("", index=df.index)
        df[f"path_{m}"] = [str((csv.parent / p).resolve()) if p else "" for p in col]
    return df.drop(columns=[m for m in MODALITIES if m in df.columns]), notes, id_name


def load_dataset(inpath, strict: bool = False, bids=None, require_split: bool = True) -> Dataset:
    """Read and check a dataset (the paper's layout folder, a manifest CSV, or a BIDS dataset).

    Parameters
    ----------
    inpath : path
        A folder with ``TRAIN/`` and ``TEST/``, a manifest ``.csv``, or a BIDS root (a folder
        with ``dataset_description.json``; see :mod:`legibility.data.bids`).
    strict : bool
        Make a participant who lacks a modality, or a volume whose voxel size or orientation
        differs from the majority, an error (the paper kept only participants with every
        modality); otherwise they are reported, and those lacking a modality are left out of
        the models that need it.
    bids : BidsOptions, optional
        How to read a BIDS dataset (space, session, run); default: ``BidsOptions.from_env()``.
    require_split : bool
        A manifest must have a ``split`` column with every split filled (training); False for
        data to predict on.
    """
    root = Path(inpath)
    if not root.exists():
        raise DataError(f"Dataset {root} does not exist. Generate one with "
                        f"`legibility cohort --out {root}` or point --inpath at your data.")
    from legibility.data import bids as bids_layout

    layout = "manifest" if root.is_file() else "bids" if bids_layout.is_bids(root) else "paper"
    if layout == "bids":
        table, notes = bids_layout.read_bids(root, bids)
        id_name = "participant_id"
    else:
        table, notes, id_name = (_manifest(root, require_split) if root.is_file() else _paper(root))
    table = table.reset_index(drop=True)
    for k in TARGETS:  # absent columns: unknown for everyone
        table[k] = pd.to_numeric(table[k], errors="coerce") if k in table.columns else np.nan
    for s in SPLITS if require_split else ():
        if not (table["split"] == s).any():
            raise DataError(f"The {s} split of {root} is empty: every split needs participants.")
    dup = table[ID][table[ID].duplicated()]
    if len(dup):
        raise DataError(f"Participant {dup.iloc[0]} appears more than once in {root}.")
    ds = Dataset(root=root, layout=layout, table=table, id_name=id_name, notes=notes,
                 id_prefix="sub-" if layout == "bids" else "")
    for m in MODALITIES:
        lacking = table.loc[~ds.has(m), ID].tolist()
        if lacking and len(lacking) < len(table):
            ds.missing[m] = lacking
        elif lacking:
            ds.notes.append(f"no participant has {m}")
    for m, ids in ds.missing.items() if strict else ():
        problem(f"{len(ids)} participant(s) lack {m} (e.g. {ids[0]}) and --strict is set: add the missing "
                f"files or drop these participants.", file=root, participant=ids[0])
    _check_volume_headers(ds, strict)
    return ds


def volume_grid(img) -> dict:
    """Shape, voxel size (mm), orientation codes, field of view (mm) and affine of a NIfTI image."""
    shape = tuple(int(n) for n in img.shape[:3])
    zooms = tuple(round(float(z), 2) for z in img.header.get_zooms()[:3])
    return {"shape": shape, "zooms": zooms, "orientation": "".join(nib.aff2axcodes(img.affine)),
            "fov": tuple(round(n * z, 1) for n, z in zip(shape, zooms, strict=True)),
            "affine": tuple(tuple(round(float(v), 3) for v in row) for row in np.asarray(img.affine)[:3])}


def as_grid(stored: dict) -> dict:
    """A grid read back from JSON (lists) as :func:`volume_grid` gives it (tuples)."""
    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, list | tuple) else v
    return {k: tup(v) for k, v in stored.items()}


def describe_grid(grid: dict) -> str:
    """``32 x 32 x 32 voxels of 4 x 4 x 4 mm, RAS orientation, field of view 128 x 128 x 128 mm``."""
    return (f"{' x '.join(map(str, grid['shape']))} voxels of {' x '.join(f'{z:g}' for z in grid['zooms'])} mm, "
            f"{grid['orientation']} orientation, field of view {' x '.join(f'{v:g}' for v in grid['fov'])} mm")


def resizable(grid: dict, reference: dict, tol: float = 0.05) -> bool:
    """True when ``grid`` covers the field of view of ``reference`` in its orientation (within
    ``tol`` of it), so that resizing to the working side puts the same anatomy in each voxel."""
    fov, ref = np.asarray(grid["fov"], float), np.asarray(reference["fov"], float)
    return grid["orientation"] == reference["orientation"] and bool(np.all(np.abs(fov - ref) <= tol * ref))


def _check_volume_headers(ds: Dataset, strict: bool = False):
    """Every NIfTI must be readable (header) and 3D. Volumes on another grid than the majority's
    are reported: noted when the cache's resize fixes them (same field of view and orientation,
    another shape or voxel size), warned otherwise (refused when strict)."""
    grids: dict[tuple, list] = {}
    for m in IMAGING_KEYS:
        for pid, p in zip(ds.table[ID], ds.table[f"path_{m}"], strict=True):
            if not p:
                continue
            try:
                img = nib.load(p)
            except Exception as err:
                problem(f"Participant {pid}: {m} volume {p} is not a readable NIfTI ({err}). Re-export or "
                        f"remove the file.", file=p, participant=pid)
                continue
            shape = img.shape[:3] if len(img.shape) == 4 and img.shape[3] == 1 else img.shape
            if len(shape) != 3:
                problem(f"Participant {pid}: {m} volume {p} has shape {shape}; a 3D volume is needed.",
                        file=p, participant=pid)
                continue
            grid = volume_grid(img)
            grids.setdefault(tuple(grid.items()), []).append((pid, m, p))
            ds.volume_grids[(pid, m)] = grid
    for m in IMAGING_KEYS:
        own = [g for g, v in grids.items() if any(x[1] == m for x in v)]
        if own:
            ds.grids[m] = dict(max(own, key=lambda g: sum(x[1] == m for x in grids[g])))
    if len(grids) < 2:
        return
    major = dict(max(grids, key=lambda g: len(grids[g])))
    odd = [(dict(g), v) for g in grids if dict(g) != major for v in grids[g]]
    fixed = [(g, v) for g, v in odd if resizable(g, major)]
    moved = [(g, v) for g, v in odd if not resizable(g, major)]
    if fixed:
        ds.notes.append(f"{len(fixed)} volume(s) on another grid with the same field of view (e.g. participant "
                        f"{fixed[0][1][0]}: {fixed[0][1][2]} has {describe_grid(fixed[0][0])}): the cache "
                        f"resizes every volume to the working side, so they are used")
    if moved:
        shown = "; ".join(f"participant {pid}: {m} volume {p} has {describe_grid(g)}"
                          for g, (pid, m, p) in moved[:5])
        n_major = len(grids[tuple(major.items())])
        msg = (f"{len(moved)} volume(s) differ in orientation or field of view from the other {n_major} "
               f"({describe_grid(major)}): {shown}{' ...' if len(moved) > 5 else ''}. Resizing cannot fix this: "
               f"resample them onto the others' grid (e.g. nilearn.image.resample_to_img), or drop them.")
        if strict:
            problem(msg + " (refused under --strict)", file=moved[0][1][2], participant=moved[0][1][0])
            return
        warnings.warn(msg, stacklevel=3)
        ds.notes.append(msg)
