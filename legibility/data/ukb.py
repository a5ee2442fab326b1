"""UK Biobank: a showcase extract and the bulk imaging folders into the paper's layout (or BIDS).

One file (~470 lines) on purpose: :data:`FIELDS`, the table of fields, is read by the derivations
beside it, and a user checking a field against the showcase reads both together.

The extract is the CSV a UK Biobank application downloads: one row per participant, ``eid``
and one column per field, instance and array index, ``<field>-<instance>.<array>`` (e.g.
``31-0.0``, ``21003-2.0``, ``20002-2.0`` ... ``20002-2.33``). Research Analysis Platform
exports (``p31_i0``, ``p20002_i2_a3``) and ``.tab`` names (``f.31.0.0``) are renamed to that form.

:data:`FIELDS` is the one table of how each of the 25 characteristics is derived (field,
instances tried, coding, derivation); ``legibility ukb --fields_table`` prints it. The codings
are the paper's: binary columns 0/1 with
1 = male / right-handed / yes, ``smoking`` = ever smoked.

Imaging: the bulk fields as the download writes them, one zip (or its unzipped folder) per
participant and field, ``<eid>_<field>_<instance>_<array>``; we take instance 2 (the first
imaging visit) unless told otherwise:

=========  =====  =============================================  ==================
modality   field  file inside the zip / folder                   verified
=========  =====  =============================================  ==================
t1         20252  ``T1/T1_brain_to_MNI.nii.gz``                  third-party code
flair      20253  ``T2_FLAIR/T2_FLAIR_brain_to_MNI.nii.gz``      third-party code
dwi        20250  ``dMRI/TBSS/FA/dti_FA_to_MNI.nii.gz``          third-party code
=========  =====  =============================================  ==================

Connectivity: the rfMRI network-matrix fields, one text file per participant
``<eid>_<field>_2_0.txt`` holding the above-diagonal values of the matrix taken column by
column (FMRIB's netmat notes): 25750 full correlation and 25752 partial correlation of the
21 good components of the 25-dimensional group ICA, 25751 and 25753 the same for the 55 good
components of the 100-dimensional one (25754/25755 are amplitudes, not matrices). Or a folder
of the user's own R x R matrices, ``<eid>.npy``, ``<eid>.tsv`` or ``<eid>.csv``.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.data.checks import PLAUSIBLE
from legibility.errors import DataError, FolderInUseError, SettingError
from legibility.study import TARGETS

__all__ = ["FIELDS", "UkbField", "IMAGING", "CONNECTIVITY_FIELDS", "convert_ukb", "derive_characteristics",
           "fields_table", "read_extract"]

IMAGING_VISIT = 2
NOT_ANSWERED = (-1, -3)  # "Do not know", "Prefer not to answer" (data-coding 100349 and others)


@dataclass(frozen=True)
class UkbField:
    """How one of our columns is derived from the showcase."""

    column: str  # our target key
    fields: tuple[int, ...]  # showcase field ids read
    instances: tuple[int, ...]  # instances tried, first answered one wins (disease: any of them)
    coding: str  # showcase data-coding / units
    derivation: str  # what we do
    verified: str = "third-party code"  # how the id and coding were checked (docs/data.md)


_NEURO = "100349: 1 yes, 0 no, -1 do not know, -3 prefer not to answer"
_NEURO_HOW = "1 -> 1, 0 -> 0; -1 and -3 -> missing"
_VISITS = (2, 1, 0)  # the imaging visit first, then the latest earlier one

FIELDS: tuple[UkbField, ...] = (
    UkbField("sex", (31,), (0,), "9: 0 female, 1 male", "as coded (1 = male)"),
    UkbField("age", (21003,), (2,), "years", "age at the imaging visit (instance 2 only)"),
    UkbField("weight", (21002,), _VISITS, "kg", "as measured"),
    UkbField("handedness", (1707,), _VISITS, "100430: 1 right, 2 left, 3 both, -3 prefer not to answer",
             "1 -> 1; 2, 3 -> 0; -3 -> missing"),
    UkbField("smoking", (20116,), _VISITS, "90: 0 never, 1 previous, 2 current, -3 prefer not to answer",
             "1 if previous or current at any instance tried, else 0 if never; -3 -> missing"),
    UkbField("hypertension", (20002, 6150), _VISITS,
             "20002 (coding 6): 1065 hypertension, 1072 essential hypertension; 6150 (100605): 4 high blood "
             "pressure, -7 none of the above, -3 prefer not to answer",
             "1 if 20002 holds 1065 or 1072, or 6150 holds 4, at any instance tried; else 0 if 6150 or "
             "20002 was answered; else missing"),
    UkbField("atopy", (20002, 6152), _VISITS,
             "20002: 1387 hayfever/allergic rhinitis, 1452 eczema/dermatitis; 6152 (100590): 9 hayfever, "
             "allergic rhinitis or eczema, -7 none, -3 prefer not to answer",
             "1 if 20002 holds 1387 or 1452, or 6152 holds 9; else 0 if answered; else missing"),
    UkbField("asthma", (20002, 6152), _VISITS, "20002: 1111 asthma; 6152: 8 asthma",
             "1 if 20002 holds 1111 or 6152 holds 8; else 0 if answered; else missing"),
    UkbField("body_fat", (23099,), _VISITS, "percent", "as measured (impedance)"),
    UkbField("hb", (30020,), _VISITS, "g/dL", "as measured"),
    UkbField("hdl", (30760,), _VISITS, "mmol/L", "as measured"),
    UkbField("hba1c", (30750,), _VISITS, "mmol/mol", "as measured"),
    UkbField("ldl", (30780,), _VISITS, "mmol/L", "as measured (LDL direct)"),
    UkbField("mood_swings", (1920,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("miserableness", (1930,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("irritability", (1940,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("sensitivity", (1950,), _VISITS, _NEURO, _NEURO_HOW + " (sensitivity / hurt feelings)"),
    UkbField("fed_up", (1960,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("nervous", (1970,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("anxious", (1980,), _VISITS, _NEURO, _NEURO_HOW + " (worrier / anxious feelings)"),
    UkbField("tense", (1990,), _VISITS, _NEURO, _NEURO_HOW + " (tense / 'highly strung')"),
    UkbField("worry", (2000,), _VISITS, _NEURO, _NEURO_HOW + " (worry too long after embarrassment)"),
    UkbField("lonely", (2020,), _VISITS, _NEURO, _NEURO_HOW + " (loneliness, isolation)"),
    UkbField("guilty", (2030,), _VISITS, _NEURO, _NEURO_HOW),
    UkbField("reaction_time", (20023,), _VISITS, "milliseconds", "mean time to correctly identify matches"),
)
assert [f.column for f in FIELDS] == list(TARGETS)  # one row per characteristic, in the study's order

_DISEASE_CODES = {  # our column -> (codes of 20002, (touchscreen field, its code))
    "hypertension": ((1065, 1072), (6150, 4)),
    "atopy": ((1387, 1452), (6152, 9)),
    "asthma": ((1111,), (6152, 8)),
}

# modality -> (bulk field, file inside the zip or folder)
IMAGING = {
    "t1": (20252, "T1/T1_brain_to_MNI.nii.gz"),
    "flair": (20253, "T2_FLAIR/T2_FLAIR_brain_to_MNI.nii.gz"),
    "dwi": (20250, "dMRI/TBSS/FA/dti_FA_to_MNI.nii.gz"),
}
CONNECTIVITY_FIELDS = {25750: "full correlation, 21 nodes", 25751: "full correlation, 55 nodes",
                       25752: "partial correlation, 21 nodes", 25753: "partial correlation, 55 nodes"}
UKB_SPACE = "MNI152NLin6Asym"  # FSL's MNI152 template, the target of UK Biobank's registrations


def fields_table(markdown: bool = True) -> str:
    """:data:`FIELDS` as a table (Markdown for docs/data.md, or plain text)."""
    rows = [(f.column, ", ".join(map(str, f.fields)), ", ".join(map(str, f.instances)), f.coding,
             f.derivation, f.verified) for f in FIELDS]
    head = ("column", "field", "instances", "coding / units", "derivation", "verified")
    if not markdown:
        return pd.DataFrame(rows, columns=head).to_string(index=False)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- extract

_RAP = re.compile(r"^p(\d+)_i(\d+)(?:_a(\d+))?$")
_TAB = re.compile(r"^f\.(\d+)\.(\d+)\.(\d+)$")
_SHOWCASE = re.compile(r"^(\d+)-(\d+)\.(\d+)$")


def _showcase_name(col: str) -> str:
    if m := _RAP.match(col):
        return f"{m[1]}-{m[2]}.{m[3] or 0}"
    if m := _TAB.match(col):
        return f"{m[1]}-{m[2]}.{m[3]}"
    return col


def read_extract(path) -> pd.DataFrame:
    """The extract as a table indexed by ``eid`` (a string), columns ``<field>-<instance>.<array>``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"UK Biobank extract {path} does not exist.")
    sep = "\t" if path.suffix in (".tab", ".tsv") else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, low_memory=False)
    except Exception as err:
        raise DataError(f"UK Biobank extract {path} could not be read ({err}).") from err
    df = df.rename(columns={c: _showcase_name(c) for c in df.columns}).rename(columns={"f.eid": "eid"})
    if "eid" not in df.columns:
        raise DataError(f"UK Biobank extract {path} has no 'eid' column; found: {', '.join(df.columns[:6])}.")
    if df["eid"].duplicated().any():
        raise DataError(f"UK Biobank extract {path}: eid {df['eid'][df['eid'].duplicated()].iloc[0]} "
                        f"appears more than once.")
    return df.set_index("eid")


def _cells(df: pd.DataFrame, field: int, instance: int) -> pd.DataFrame:
    """All array columns of one field and instance, as numbers (empty frame if absent)."""
    cols = [c for c in df.columns if (m := _SHOWCASE.match(c)) and int(m[1]) == field and int(m[2]) == instance]
    return df[cols].apply(pd.to_numeric, errors="coerce")


def _first_answered(df, field, instances, missing_codes=NOT_ANSWERED):
    """Value and source column of the first instance answered (not NaN, not a missing code)."""
    value = pd.Series(np.nan, index=df.index)
    source = pd.Series("", index=df.index)
    for inst in instances:
        cells = _cells(df, field, inst)
        if cells.empty:
            continue
        v = cells.iloc[:, 0]
        take = value.isna() & v.notna() & ~v.isin(missing_codes)
        value[take] = v[take]
        source[take] = cells.columns[0]
    return value, source


def _disease(df, column, instances):
    codes20002, (touch, code) = _DISEASE_CODES[column]
    yes = pd.Series(False, index=df.index)
    answered = pd.Series(False, index=df.index)
    for inst in instances:
        verbal = _cells(df, 20002, inst)
        screen = _cells(df, touch, inst)
        if not verbal.empty:
            yes |= verbal.isin(codes20002).any(axis=1)
            answered |= (verbal >= 0).any(axis=1)
        if not screen.empty:
            yes |= (screen == code).any(axis=1)
            answered |= ((screen >= 0) | (screen == -7)).any(axis=1)
    return pd.Series(np.where(yes, 1.0, np.where(answered, 0.0, np.nan)), index=df.index)


def derive_characteristics(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 25 characteristics from an extract (see :data:`FIELDS`).

    Returns
    -------
    values, sources
        ``values`` indexed by eid (NaN where missing); ``sources`` the extract column each
        value came from (for messages naming the field).
    """
    values, sources = {}, {}
    for f in FIELDS:
        col = f.column
        if col in _DISEASE_CODES:
            values[col] = _disease(df, col, f.instances)
            sources[col] = pd.Series(f"{'/'.join(map(str, f.fields))}", index=df.index)
            continue
        v, src = _first_answered(df, f.fields[0], f.instances)
        if col == "handedness":
            v = v.map({1.0: 1.0, 2.0: 0.0, 3.0: 0.0})
        elif col == "smoking":
            ever = pd.Series(False, index=df.index)
            for inst in f.instances:
                cells = _cells(df, 20116, inst)
                if not cells.empty:
                    ever |= cells.iloc[:, 0].isin((1, 2))
            v = pd.Series(np.where(ever, 1.0, np.where(v == 0, 0.0, np.nan)), index=df.index)
        elif TARGETS[col].is_binary:
            v = v.where(v.isin((0.0, 1.0)))
        values[col], sources[col] = v, src
    return pd.DataFrame(values), pd.DataFrame(sources)


# --------------------------------------------------------------------------- imaging

_BULK = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)(\.zip|\.txt)?$")


def _bulk_index(imaging: Path, instance: int) -> dict[tuple[str, int], Path]:
    """(eid, field) -> the zip, folder or text file of that participant and field."""
    found: dict[tuple[str, int], Path] = {}
    for p in imaging.rglob("*"):
        m = _BULK.match(p.name)
        if m and int(m[3]) == instance and (p.is_dir() or m[5]):
            key = (m[1], int(m[2]))
            if key not in found or p.is_dir():  # an unzipped folder wins over its zip
                found[key] = p
    return found


def _extract_member(src: Path, member: str, dst: Path) -> bool:
    """Copy ``member`` of a bulk zip or folder to ``dst``; False when it is not there."""
    name = Path(member).name
    if src.is_dir():
        exact = src / member
        hits = [exact] if exact.is_file() else sorted(src.rglob(name))
        if not hits:
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hits[0], dst)
        return True
    try:
        with zipfile.ZipFile(src) as z:
            names = z.namelist()
            hit = member if member in names else next((n for n in names if n.endswith("/" + name)), None)
            if hit is None:
                return False
            dst.parent.mkdir(parents=True, exist_ok=True)
            with z.open(hit) as fin, open(dst, "wb") as fout:
                shutil.copyfileobj(fin, fout)
    except zipfile.BadZipFile as err:
        raise DataError(f"{src} is not a readable zip ({err}); download it again.") from err
    return True


def _netmat(path: Path) -> np.ndarray:
    """A UK Biobank network matrix file: the above-diagonal values, column by column."""
    vals = np.loadtxt(path, ndmin=1).ravel()
    r = int(round((1 + np.sqrt(1 + 8 * len(vals))) / 2))
    if r * (r - 1) // 2 != len(vals):
        raise DataError(f"{path} holds {len(vals)} values, which is not R(R-1)/2 for any R: not a network "
                        f"matrix field (25750-25753)?")
    mat = np.eye(r)
    iu = np.triu_indices(r, k=1)
    order = np.lexsort((iu[0], iu[1]))  # column by column, as MATLAB's triu indexing takes them
    mat[iu[0][order], iu[1][order]] = vals
    return mat + np.triu(mat, 1).T


def _own_matrix(folder: Path, eid: str) -> np.ndarray | None:
    for ext in (".npy", ".tsv", ".csv"):
        f = folder / f"{eid}{ext}"
        if f.is_file():
            if ext == ".npy":
                return np.load(f).astype(np.float64)
            return np.loadtxt(f, delimiter="," if ext == ".csv" else None, ndmin=2)
    return None


# --------------------------------------------------------------------------- conversion

def _implausible(values: pd.DataFrame, sources: pd.DataFrame, drop: bool) -> list[tuple]:
    """``(eid, column, field, value, reason)`` of each value outside the plausible ranges of
    ``legibility check``; unless ``drop``, the first stops the conversion, naming its eid and field."""
    bad_rows = []
    for col, (lo, hi) in PLAUSIBLE.items():
        v = values[col]
        wrong = v.notna() & ((v < lo) | (v > hi))
        for eid in v.index[wrong]:
            bad_rows.append((eid, col, sources.at[eid, col], v[eid], f"outside {lo:g}-{hi:g} {TARGETS[col].units}"))
    if bad_rows and not drop:
        eid, col, src, val, why = bad_rows[0]
        raise DataError(f"eid {eid}: field {src} ({col}) is {val:g}, {why} ({len(bad_rows)} such value(s)). "
                        f"Check the extract's units, or pass --drop_implausible to leave these participants "
                        f"out (they are listed in excluded.csv).")
    return bad_rows


def _connectivity_source(connectivity) -> tuple[int | None, Path | None]:
    """``(field, folder)`` of the connectivity matrices: a network-matrix field id, a folder of
    ``<eid>`` matrices, or neither for ``none``."""
    if str(connectivity).lower() == "none":
        return None, None
    if str(connectivity).isdigit():
        if int(connectivity) not in CONNECTIVITY_FIELDS:
            raise DataError(f"--connectivity {connectivity}: use a network-matrix field "
                            f"({', '.join(map(str, CONNECTIVITY_FIELDS))}) or a folder of matrices.")
        return int(connectivity), None
    if not Path(connectivity).is_dir():
        raise DataError(f"--connectivity {connectivity} is neither a field id nor a folder.")
    return None, Path(connectivity)


def _missing(values: pd.DataFrame, eids) -> list[tuple]:
    """``(eid, column, field, "", reason)`` of each characteristic missing for a participant of ``eids``."""
    return [(eid, col, "/".join(map(str, next(f.fields for f in FIELDS if f.column == col))), "",
             "missing (not answered, do not know or prefer not to answer)")
            for eid in eids for col in TARGETS if pd.isna(values.at[eid, col])]


def _stage(table: pd.DataFrame, index: dict, conn_field: int | None, conn_dir: Path | None, work: Path,
           progress: bool = True) -> dict[str, int]:
    """Extract each participant's images and connectivity matrix into ``work`` and point the
    ``path_*`` columns of ``table`` at them (the matrices stacked in ``work/connectivity.npy``);
    the number of participants found per modality."""
    from tqdm.auto import tqdm

    found = dict.fromkeys([*IMAGING, "connectivity"], 0)
    mats = []
    for m in [*IMAGING, "connectivity"]:
        table[f"path_{m}"] = ""
    for i, eid in enumerate(tqdm(table["biobank_id"], desc="ukb participants", disable=not progress)):
        for m, (field, member) in IMAGING.items():
            src = index.get((eid, field))
            dst = work / m / f"{eid}_{m}.nii.gz"
            if src is not None and _extract_member(src, member, dst):
                table.at[i, f"path_{m}"] = str(dst)
                found[m] += 1
        mat = None
        if conn_field and (eid, conn_field) in index:
            mat = _netmat(index[(eid, conn_field)])
        elif conn_dir is not None:
            mat = _own_matrix(conn_dir, eid)
        if mat is not None:
            mats.append(mat)
            table.at[i, "path_connectivity"] = f"{len(mats) - 1}"
            found["connectivity"] += 1
    if mats:
        shapes = {m.shape for m in mats}
        if len(shapes) > 1:
            raise DataError(f"Connectivity matrices differ in shape ({sorted(shapes)}); use one field or one "
                            f"parcellation for everyone.")
        np.save(work / "connectivity.npy", np.stack(mats).astype(np.float32))
        has = table["path_connectivity"] != ""
        rows = table.loc[has, "path_connectivity"]
        table.loc[has, "path_connectivity"] = str(work / "connectivity.npy") + "::" + rows
    return found


def convert_ukb(fields, imaging, out, format: str = "paper", connectivity="25751",
                instance: int = IMAGING_VISIT, drop_implausible: bool = False, seed: int | None = None,
                progress: bool = True) -> dict:
    """Convert a showcase extract and the bulk imaging folders into a dataset at ``out``.

    Parameters
    ----------
    fields : path
        The extract CSV (``eid``, ``31-0.0``, ...).
    imaging : path
        Folder holding the bulk zips or their unzipped folders (searched recursively).
    format : {"paper", "bids"}
    connectivity : str
        A network-matrix field (25750-25753), a folder of ``<eid>.npy|.tsv|.csv`` matrices,
        or ``none``.
    drop_implausible : bool
        Leave out participants with a value outside the plausible ranges of
        ``legibility check`` (reported) instead of stopping with an error.
    seed : int, optional
        Seed of the 80 : 20 split (default :data:`legibility.data.bids.SPLIT_SEED`).

    Returns
    -------
    dict
        Counts: participants kept, excluded (and why, in ``excluded.csv``), modalities found.
    """

    from legibility.data.bids import SPLIT_SEED, paper_split, write_bids

    out, imaging = Path(out), Path(imaging)
    if format not in ("paper", "bids"):
        raise SettingError(f"format must be 'paper' or 'bids'; got {format!r}.")
    if out.exists() and any(out.iterdir()):
        raise FolderInUseError(f"{out} is not empty; choose a new folder or delete it first.")
    if not imaging.is_dir():
        raise DataError(f"Imaging folder {imaging} does not exist (the folder of the bulk downloads).")
    df = read_extract(fields)
    values, sources = derive_characteristics(df)

    bad_rows = _implausible(values, sources, drop_implausible)
    # Imaging found per participant.
    index = _bulk_index(imaging, instance)
    conn_field, conn_dir = _connectivity_source(connectivity)
    eids = [e for e in df.index if any((e, f) in index for f, _ in IMAGING.values())
            or (conn_field and (e, conn_field) in index)
            or (conn_dir and any((conn_dir / f"{e}{x}").is_file() for x in (".npy", ".tsv", ".csv")))]
    no_images = len(df) - len(eids)

    excluded = [(e, c, s, v, w) for e, c, s, v, w in bad_rows if e in set(eids)] + _missing(values, eids)
    drop = {e for e, *_ in excluded}
    keep = [e for e in eids if e not in drop]
    if not keep:
        raise DataError(f"No participant of {fields} has imaging in {imaging} and every characteristic "
                        f"({len(eids)} with imaging, {no_images} without).")

    work = out / ".ukb-staging"
    work.mkdir(parents=True)
    table = values.loc[keep].reset_index(names="biobank_id")
    table["biobank_id"] = table["biobank_id"].astype(str)
    split = paper_split(table["biobank_id"], SPLIT_SEED if seed is None else seed)
    table.insert(1, "split", table["biobank_id"].map(split))
    found = _stage(table, index, conn_field, conn_dir, work, progress)
    try:
        if format == "bids":
            final = out.parent / f".{out.name}.bids"
            write_bids(table, final, name="UK Biobank imaging cohort", anat_space=UKB_SPACE, dwi_space=UKB_SPACE,
                       move=True, description="Converted from a UK Biobank showcase extract and bulk imaging "
                                              "by `legibility ukb`.")
            shutil.rmtree(work)
            for p in final.iterdir():
                p.rename(out / p.name)
            final.rmdir()
        else:
            _write_paper(table, out)
            shutil.rmtree(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    ex = pd.DataFrame(excluded, columns=["eid", "column", "field", "value", "reason"])
    ex.to_csv(out / "excluded.csv", index=False)
    if format == "bids":
        with open(out / ".bidsignore", "a") as f:
            f.write("excluded.csv\n")
    return {"kept": len(table), "excluded": len(drop), "no_images": no_images, "found": found,
            "format": format, "out": str(out)}


def _write_paper(table: pd.DataFrame, out: Path):
    """The paper's TRAIN/TEST layout from a staged table (validation rows go back into TEST)."""
    from legibility import paths
    from legibility.data.bids import _load_matrix

    for split, folder in (("train", paths.SPLIT_DIRS["train"]), ("test", paths.SPLIT_DIRS["test"])):
        part = table[table["split"].isin(("train",) if split == "train" else ("val", "test"))]
        part = part.sort_values("biobank_id", key=lambda s: s.map(lambda e: (len(e), e)))
        (out / folder).mkdir(parents=True, exist_ok=True)
        part[["biobank_id", *TARGETS]].to_csv(paths.metadata_path(out, folder), index=False)
        for m in IMAGING:
            for eid, src in zip(part["biobank_id"], part[f"path_{m}"], strict=True):
                if src:
                    dst = paths.volume_path(out, folder, m, eid)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(src, dst)
        has = part[part["path_connectivity"] != ""]
        if len(has):
            npy, txt = paths.fmri_paths(out, folder)
            np.save(npy, np.stack([_load_matrix(r) for r in has["path_connectivity"]]).astype(np.float32))
            txt.write_text("".join(f"{e}\n" for e in has["biobank_id"]))
