"""BIDS in and out: read a BIDS dataset with pybids, and write any dataset as BIDS.

One file (~390 lines) on purpose: reader and writer share the format's constants (suffixes,
entities, the split rule), so what we write is what we read, by construction.

What we read from a BIDS root (``dataset_description.json`` marks it):

- ``participants.tsv``: ``participant_id`` (``sub-<label>``; the label is the participant id,
  kept as a string) and the characteristic columns (the target keys, ``n/a`` for missing);
  an optional ``split`` column (``train``, ``val``, ``test``). Without it the paper's rule is
  applied to the sorted labels: a permutation seeded with :data:`SPLIT_SEED` puts 80% in
  training, and the rest, sorted, alternates test (0, 2, 4...) and validation (1, 3, 5...).
- T1w and FLAIR images (suffix ``T1w``, ``FLAIR``): in a template space (``space-`` entity, in
  ``derivatives/``), or the raw images in ``sub-*/anat/``. ``space`` chooses: by default any
  label starting with ``MNI152``, else a full label such as ``MNI152NLin6Asym``, or ``raw``.
  A modality with no image in the chosen space uses its raw images (said in the report) when
  it has no image in any space, or when the space is the default; otherwise it is an error
  that lists the spaces present.
- A diffusion scalar map: a NIfTI whose ``desc-`` is ``dwi_desc`` (default ``FA``), in the same
  space, e.g. ``derivatives/<pipeline>/sub-01/dwi/sub-01_space-MNI152NLin6Asym_desc-FA_dwimap.nii.gz``.
- A connectivity matrix per participant: suffix ``relmat`` (the name proposed for BIDS
  connectivity derivatives), an R x R ``.tsv`` (no header) or ``.npy``.

A participant with several sessions or runs of a modality: the first session (sorted labels)
and the lowest run are taken, and the report says so; ``session`` and ``run`` choose others.
Each option can also come from the environment (``LEGIBILITY_BIDS_SPACE``, ``_SESSION``,
``_RUN``, ``_DWI_DESC``) so that it reaches the sweep and the notebooks.

:func:`write_bids` writes a dataset table (``Dataset.table``) as a BIDS dataset that
``bids-validator-deno`` accepts: ``dataset_description.json``, ``participants.tsv`` and
``participants.json`` (every characteristic with its description, units or levels),
``sub-*/anat/`` (or anatomy in template space under derivatives), and a derivative
``derivatives/legibility/`` holding the diffusion maps and the connectivity matrices.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from legibility.errors import DataError, FolderInUseError
from legibility.study import DOMAINS, TARGETS

__all__ = ["BidsOptions", "SPLIT_SEED", "is_bids", "read_bids", "write_bids", "paper_split"]

SPLIT_SEED = 0  # seed of the 80 : 20 split when participants.tsv has no split column
TRAIN_FRACTION = 0.8
DEFAULT_SPACE = "MNI152"  # any MNI152 variant (a prefix), else the raw images
DERIVATIVE = "legibility"  # derivatives/<name>/ that write_bids fills
BIDS_VERSION = "1.10.0"
SPLITS = ("train", "val", "test")
NIFTI = (".nii", ".nii.gz")
IMAGES = {"t1": "T1w", "flair": "FLAIR"}  # our key -> BIDS suffix
CONNECTIVITY_SUFFIX = "relmat"

# What participants.json says about each characteristic (BIDS column descriptions).
_LEVELS = {
    "sex": {"0": "female", "1": "male"},
    "handedness": {"0": "left-handed or ambidextrous", "1": "right-handed"},
    "smoking": {"0": "never smoked", "1": "ever smoked (previous or current)"},
}


@dataclass(frozen=True)
class BidsOptions:
    """How to read a BIDS dataset (see the module docstring)."""

    space: str = DEFAULT_SPACE  # a space label, a prefix of one (the default), or "raw"
    session: str | None = None  # session label to take when a participant has several
    run: int | None = None  # run number to take when a participant has several
    dwi_desc: str = "FA"  # desc- entity of the diffusion scalar map

    @classmethod
    def from_env(cls, **given) -> BidsOptions:
        """Options from ``given`` (None entries ignored), else ``LEGIBILITY_BIDS_*``, else defaults."""
        env = {
            "space": os.environ.get("LEGIBILITY_BIDS_SPACE"),
            "session": os.environ.get("LEGIBILITY_BIDS_SESSION"),
            "run": os.environ.get("LEGIBILITY_BIDS_RUN"),
            "dwi_desc": os.environ.get("LEGIBILITY_BIDS_DWI_DESC"),
        }
        env.update({k: v for k, v in given.items() if v is not None})
        kw = {k: v for k, v in env.items() if v not in (None, "")}
        if "run" in kw:
            try:
                kw["run"] = int(kw["run"])
            except ValueError as err:
                raise DataError(f"The BIDS run must be a number (e.g. 1); got {kw['run']!r}.") from err
        if "session" in kw:
            kw["session"] = str(kw["session"]).removeprefix("ses-")
        return cls(**kw)


def is_bids(root) -> bool:
    return Path(root).is_dir() and (Path(root) / "dataset_description.json").is_file()


def paper_split(labels, seed: int = SPLIT_SEED) -> dict[str, str]:
    """The paper's partition applied to participant labels: 80% train by a seeded
    permutation of the sorted labels; the rest sorted, alternately test and validation."""
    labels = sorted(map(str, labels))
    n_train = int(round(TRAIN_FRACTION * len(labels)))
    perm = np.random.default_rng(seed).permutation(len(labels))
    train = {labels[i] for i in perm[:n_train]}
    held = [lab for lab in labels if lab not in train]
    out = dict.fromkeys(train, "train")
    out.update({lab: ("test" if i % 2 == 0 else "val") for i, lab in enumerate(held)})
    return out


# --------------------------------------------------------------------------- reading

def _participants(root: Path) -> pd.DataFrame:
    tsv = root / "participants.tsv"
    if not tsv.is_file():
        raise DataError(f"BIDS dataset {root} has no participants.tsv: it needs one with a "
                        f"'participant_id' column and the characteristic columns "
                        f"({', '.join(list(TARGETS)[:4])}, ...); see docs/data.md, section BIDS datasets.")
    try:
        df = pd.read_csv(tsv, sep="\t", dtype=str, na_values=["n/a"], keep_default_na=False)
    except Exception as err:
        raise DataError(f"{tsv} could not be read as a tab-separated table ({err}).") from err
    if "participant_id" not in df.columns:
        raise DataError(f"{tsv} has no 'participant_id' column; found: {', '.join(df.columns[:8])}.")
    bad = df.loc[~df["participant_id"].fillna("").str.fullmatch(r"sub-[A-Za-z0-9]+"), "participant_id"]
    if len(bad):
        raise DataError(f"{tsv}: participant_id {bad.iloc[0]!r} is not of the form sub-<label> "
                        f"(letters and digits only).")
    df.insert(0, "biobank_id", df.pop("participant_id").str.removeprefix("sub-"))
    return df


def _index(root: Path):
    """Every NIfTI / matrix file of the dataset and its derivatives, with its entities."""
    from bids import BIDSLayout, BIDSLayoutIndexer

    ignore = ["code", "stimuli", "sourcedata", "models", "_cache", re.compile(r"^/\.")]
    layout = BIDSLayout(root, validate=False, derivatives=True, indexer=BIDSLayoutIndexer(ignore=ignore))
    rows = []
    for f in layout.get(return_type="object", extension=[*NIFTI, ".tsv", ".npy"]):
        e = f.get_entities()
        if "subject" not in e:
            continue
        rows.append({
            "path": f.path, "subject": str(e["subject"]), "session": e.get("session"),
            "run": int(e["run"]) if e.get("run") is not None else None, "space": e.get("space"),
            "desc": e.get("desc"), "suffix": e.get("suffix"), "datatype": e.get("datatype"),
            "extension": e.get("extension"),
        })
    return pd.DataFrame(rows, columns=["path", "subject", "session", "run", "space", "desc", "suffix",
                                       "datatype", "extension"])


def _candidates(files: pd.DataFrame, modality: str, opts: BidsOptions) -> pd.DataFrame:
    ext = files["extension"]
    if modality in IMAGES:
        return files[(files["suffix"] == IMAGES[modality]) & ext.isin(NIFTI)]
    if modality == "dwi":
        desc = files["desc"].fillna("").str.lower()
        return files[ext.isin(NIFTI) & (desc == opts.dwi_desc.lower()) & (files["suffix"] != "dwi")]
    return files[(files["suffix"] == CONNECTIVITY_SUFFIX) & ext.isin([".tsv", ".npy"])]


def _in_space(cands: pd.DataFrame, modality: str, opts: BidsOptions, root: Path, notes: list[str]):
    """Keep the files of the chosen space (connectivity matrices have none to choose)."""
    if modality == "connectivity" or cands.empty:
        return cands
    space = cands["space"]
    if opts.space == "raw":
        return cands[space.isna()]
    match = space.fillna("").str.startswith(opts.space) if opts.space == DEFAULT_SPACE else space == opts.space
    if match.any():
        labels = sorted(set(space[match]))
        if len(labels) > 1:
            raise DataError(f"{root}: {modality} images exist in several spaces matching "
                            f"'{opts.space}' ({', '.join(labels)}); choose one with --bids_space.")
        return cands[match]
    present = sorted(set(space.dropna()))
    if not present or (opts.space == DEFAULT_SPACE and space.isna().any()):
        notes.append(f"no {modality} image in space-{opts.space}: the raw images are used "
                     f"(they must already be on one grid)")
        return cands[space.isna()]
    raise DataError(f"{root}: no {modality} image in space-{opts.space}. Spaces present: "
                    f"{', '.join(present) or 'none (raw images only: use --bids_space raw)'}; "
                    f"choose one with --bids_space.")


def _pick(group: pd.DataFrame, modality: str, opts: BidsOptions, several: list):
    """One file for one participant and modality, choosing the session and run."""
    if len(group[["session", "run"]].astype(str).drop_duplicates()) > 1:
        ses, run = group["session"].dropna().astype(str), group["run"].dropna().astype(int)
        several.append((group["subject"].iat[0], sorted(set(ses)), sorted(set(run))))
    g = group
    if opts.session is not None:  # files of other sessions are not taken (files without one are)
        g = g[g["session"].isna() | (g["session"].astype(str) == opts.session)]
    if opts.run is not None:
        g = g[g["run"].isna() | (g["run"] == opts.run)]
    if g.empty:
        return ""
    if g["session"].notna().any():
        g = g[g["session"].astype(str) == sorted(g["session"].dropna().astype(str))[0]]
    if g["run"].notna().any():
        g = g[g["run"] == g["run"].min()]
    if len(g) > 1:
        shown = "\n  ".join(sorted(g["path"])[:4])
        raise DataError(f"Participant {g['subject'].iat[0]}: {len(g)} {modality} files fit equally "
                        f"(same space, session and run):\n  {shown}\nKeep one, or move the others out "
                        f"of the dataset (e.g. to sourcedata/).")
    return str(g["path"].iat[0])


# Other suffixes of anatomical BIDS images: close in spelling to T1w or FLAIR, but not misnamed.
_OTHER_ANAT = {"t2w", "pdw", "t1map", "t2map", "t2starw", "pd", "t2star", "inplanet1", "inplanet2", "unit1"}


def _misnamed_images(files: pd.DataFrame) -> list[str]:
    """Notes (also warned) on participants' NIfTI files whose suffix is a near miss of ``T1w``
    or ``FLAIR`` (``T1``, ``t1w``, ``Flair``): named, with the name they were likely meant to have."""
    import difflib
    import warnings

    wanted = {v.lower(): v for v in IMAGES.values()}
    odd = []
    for row in files[files["extension"].isin(NIFTI)].itertuples(index=False):
        suffix = str(row.suffix or "")
        if suffix in wanted.values() or suffix.lower() in _OTHER_ANAT:
            continue
        close = difflib.get_close_matches(suffix.lower(), list(wanted), n=1, cutoff=0.6)
        if close:
            name = Path(row.path).name
            odd.append(f"{row.path} (did you mean {name.replace(f'_{suffix}.', f'_{wanted[close[0]]}.')}?)")
    if not odd:
        return []
    note = (f"{len(odd)} image file(s) match no modality's name (suffix T1w or FLAIR), so their participants "
            f"lack that image: {'; '.join(odd[:5])}{' ...' if len(odd) > 5 else ''}. Rename them.")
    warnings.warn(note, stacklevel=4)
    return [note]


def read_bids(root, options: BidsOptions | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read a BIDS dataset into the layout table (see :mod:`legibility.data.layout`).

    Returns
    -------
    table, notes
        One row per row of participants.tsv: ``biobank_id`` (the label without ``sub-``),
        ``split``, the characteristics, and ``path_<modality>`` (empty where absent).
    """
    from legibility.data.checks import check_metadata, unknown_columns, unknown_splits

    root = Path(root)
    opts = options or BidsOptions.from_env()
    df = _participants(root)
    tsv = root / "participants.tsv"
    notes = unknown_columns(df, tsv)
    notes += check_metadata(df, source=tsv, empty="write n/a")  # n/a: left out per model, never imputed
    for k in TARGETS:
        if k in df.columns:
            df[k] = pd.to_numeric(df[k], errors="coerce")
    if "split" in df.columns:
        unknown_splits(df, tsv, "use train, val or test (or drop the column to apply the paper's rule)")
    else:
        df["split"] = df["biobank_id"].map(paper_split(df["biobank_id"]))
        notes.append(f"no 'split' column in participants.tsv: the paper's rule was applied to the "
                     f"sorted participant labels (80% train, seed {SPLIT_SEED}; the rest alternately "
                     f"test and validation)")
    files = _index(root)
    ids = set(df["biobank_id"])
    for m in ("t1", "flair", "dwi", "connectivity"):
        cands = _in_space(_candidates(files, m, opts), m, opts, root, notes)
        several: list = []
        chosen = {sub: _pick(g, m, opts, several) for sub, g in cands.groupby("subject")}
        df[f"path_{m}"] = [chosen.get(pid, "") for pid in df["biobank_id"]]
        if several:
            sub, ses, runs = several[0]
            took = (f"session {opts.session}" if opts.session else "the first session") + " and " + \
                   (f"run {opts.run}" if opts.run is not None else "the lowest run")
            notes.append(f"{len(several)} participant(s) have several sessions or runs of {m} (e.g. sub-{sub}: "
                         f"sessions {ses or '-'}, runs {runs or '-'}): took {took}; choose with "
                         f"--bids_session / --bids_run")
        orphans = sorted(set(chosen) - ids)
        if orphans:
            notes.append(f"{len(orphans)} participant(s) have {m} files but no row in participants.tsv "
                         f"(e.g. sub-{orphans[0]}): ignored; add a row to use them")
    notes += _misnamed_images(files)
    have_any = np.zeros(len(df), bool)
    for m in ("t1", "flair", "dwi", "connectivity"):
        have_any |= df[f"path_{m}"].str.len().to_numpy() > 0
    if (~have_any).any() and have_any.any():
        lacking = df.loc[~have_any, "biobank_id"].tolist()
        notes.append(f"{len(lacking)} participant(s) of participants.tsv have no image or matrix at all "
                     f"(e.g. sub-{lacking[0]}): only models without imaging can use them")
    return df, notes


# --------------------------------------------------------------------------- writing

def _load_matrix(ref: str) -> np.ndarray:
    """An R x R matrix from a layout reference (``file.npy::row``, ``.npy``, ``.tsv`` or ``.csv``)."""
    f, _, row = ref.partition("::")
    if row:
        return np.asarray(np.load(f, mmap_mode="r")[int(row)], np.float64)
    if f.endswith(".npy"):
        return np.load(f).astype(np.float64)
    return np.loadtxt(f, delimiter="," if f.endswith(".csv") else None, ndmin=2)


def _participants_json() -> dict:
    out = {"split": {"Description": "Partition of the study: train, val (validation) or test.",
                     "Levels": {"train": "training set", "val": "validation set", "test": "test set"}}}
    for key, t in TARGETS.items():
        entry = {"Description": f"{t.display} ({DOMAINS[t.domain].name} domain of Ruffle et al. 2024)"}
        if t.is_binary:
            entry["Levels"] = _LEVELS.get(key, {"0": "no", "1": "yes"})
        else:
            entry["Units"] = t.units
        out[key] = entry
    return out


def _bids_label(pid: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]+", str(pid)):
        raise DataError(f"Participant id {pid!r} cannot be a BIDS label (letters and digits only); "
                        f"rename it before writing BIDS.")
    return str(pid)


def _place(src: str, dst: Path, move: bool):
    dst.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(src, dst)
    else:
        shutil.copyfile(src, dst)


def write_bids(table: pd.DataFrame, out, name: str = "legibility dataset", anat_space: str | None = None,
               dwi_space: str = "MNI152NLin2009aSym", move: bool = False, extra_files=(),
               description: str = "") -> Path:
    """Write a dataset table as a BIDS dataset at ``out`` (which must be empty or absent).

    Parameters
    ----------
    table : DataFrame
        ``Dataset.table``: ``biobank_id``, ``split``, the characteristics, ``path_<modality>``.
    anat_space : str, optional
        None: T1w/FLAIR go to ``sub-*/anat/`` as raw images; a space label: they go to the
        derivative as ``space-<label>_desc-brain`` images (e.g. UK Biobank's registered brains).
    dwi_space : str
        Space label of the diffusion maps.
    move : bool
        Move the image files instead of copying them (for a temporary source).
    extra_files : paths
        Files copied to the root and listed in ``.bidsignore`` (e.g. ``ground_truth.csv``).
    """
    from legibility import __version__

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FolderInUseError(f"{out} is not empty; choose a new folder or delete it first.")
    out.mkdir(parents=True, exist_ok=True)
    deriv = out / "derivatives" / DERIVATIVE
    generated = [{"Name": "legibility", "Version": __version__,
                  "Description": description or "written by legibility.data.bids.write_bids"}]
    (out / "dataset_description.json").write_text(json.dumps(
        {"Name": name, "BIDSVersion": BIDS_VERSION, "DatasetType": "raw", "License": "CC0",
         "Authors": ["legibility"], "GeneratedBy": generated}, indent=2) + "\n")
    (out / "README.md").write_text(f"# {name}\n\n{description or 'Written by legibility.'}\n\n"
                                   f"Characteristics: participants.tsv (described in participants.json). "
                                   f"Diffusion maps and connectivity matrices: derivatives/{DERIVATIVE}/.\n")
    deriv.mkdir(parents=True)
    (deriv / "dataset_description.json").write_text(json.dumps(
        {"Name": f"{name}: derived maps and connectivity", "BIDSVersion": BIDS_VERSION,
         "DatasetType": "derivative", "GeneratedBy": generated}, indent=2) + "\n")
    ignore = ["_cache/"]
    for f in extra_files:
        shutil.copyfile(f, out / Path(f).name)
        ignore.append(Path(f).name)
    (out / ".bidsignore").write_text("\n".join(ignore) + "\n")

    parts = table[["biobank_id", "split", *TARGETS]].copy()
    parts.insert(0, "participant_id", ["sub-" + _bids_label(p) for p in parts.pop("biobank_id")])
    parts.to_csv(out / "participants.tsv", sep="\t", index=False, na_rep="n/a")
    (out / "participants.json").write_text(json.dumps(_participants_json(), indent=2) + "\n")

    for row in table.itertuples(index=False):
        sub = f"sub-{row.biobank_id}"
        for m, suffix in IMAGES.items():
            src = getattr(row, f"path_{m}")
            if not src:
                continue
            ext = ".nii.gz" if src.endswith(".gz") else ".nii"
            if anat_space is None:
                _place(src, out / sub / "anat" / f"{sub}_{suffix}{ext}", move)
            else:
                _place(src, deriv / sub / "anat" / f"{sub}_space-{anat_space}_desc-brain_{suffix}{ext}", move)
        if row.path_dwi:
            ext = ".nii.gz" if row.path_dwi.endswith(".gz") else ".nii"
            _place(row.path_dwi, deriv / sub / "dwi" / f"{sub}_space-{dwi_space}_desc-FA_dwimap{ext}", move)
        if row.path_connectivity:
            f = deriv / sub / "func" / f"{sub}_task-rest_desc-correlation_{CONNECTIVITY_SUFFIX}.tsv"
            f.parent.mkdir(parents=True, exist_ok=True)
            np.savetxt(f, _load_matrix(row.path_connectivity), delimiter="\t", fmt="%.9g")
    return out
