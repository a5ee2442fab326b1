"""Generate a synthetic cohort and write it in the paper's on-disk layout.

::

    DIR/TRAIN/T1/<id>_t1.nii.gz   FLAIR/<id>_flair.nii.gz   DWI/<id>_dwi.nii.gz
    DIR/TRAIN/imaging_fmri_train.npy (N x R x R)   imaging_fmri_train.txt (ids)
    DIR/TRAIN/metadata_train.csv (biobank_id + the 25 characteristics)
    DIR/TEST/...                  (same, ``_test``; split into validation and test later)
    DIR/latents.csv  DIR/ground_truth.csv  DIR/cohort.json
"""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from legibility import __version__, paths
from legibility.cohort import anatomy, connectome
from legibility.cohort.characteristics import draw_latents, make_characteristics
from legibility.cohort.information import MODALITIES, RHO2, observe, unshrunk
from legibility.errors import FolderInUseError, SettingError
from legibility.files import atomic_nifti
from legibility.study import TARGETS

__all__ = ["CODE_GAIN", "draw_participants", "generate_cohort", "make_world"]

# Strength of the many small regional effects (fraction of grey-matter density or FA per unit
# of the standardised observation); calibrated so that models can read them at the paper's
# scale of effects -- see .information for what they carry.
CODE_GAIN = {"structural": 0.5, "dwi": 0.5, "connectivity": 0.3}
TRAIN_FRACTION = 0.8  # the paper's TRAIN : TEST ratio
_SEX_CUT = 0.0627  # liability threshold of 47.5% male


@functools.lru_cache(maxsize=8)
def region_code(n_regions: int, n_codes: int, modality: str) -> np.ndarray:
    """Orthonormal spatial patterns (n_codes x n_regions) for one modality's regional effects."""
    if n_regions < n_codes:
        raise SettingError(
            f"--regions must be at least {n_codes} (one pattern per characteristic); got "
            f"{n_regions}."
        )
    rng = np.random.default_rng({"structural": 11, "dwi": 12}[modality])
    q, _ = np.linalg.qr(rng.standard_normal((n_regions, n_codes)))
    return np.ascontiguousarray(q.T)


def weighted_code(obs, modality: str) -> np.ndarray:
    """The observations each weighted by its ``rho``: a characteristic the modality carries
    nothing of adds no regional variation (the information is unchanged, since each
    informative component is only rescaled)."""
    rho = np.sqrt([RHO2[c][MODALITIES.index(modality)] for c in obs[modality].columns])
    return obs[modality].to_numpy() * rho


def _maleness(liability):
    return 1.0 / (1.0 + np.exp(-(liability - _SEX_CUT) / 0.05))


def _brains(obs, n_regions):
    """Two :class:`anatomy.SubjectBrain` per participant, ``(structural, dwi)``: each made from
    that modality's observations only."""
    views = {}
    for m in ("structural", "dwi"):
        o = obs[m]
        code = CODE_GAIN[m] * (weighted_code(obs, m) @ region_code(n_regions, o.shape[1], m))
        age = 63.1 + 7.5 * unshrunk(obs, m, "age")
        male = _maleness(unshrunk(obs, m, "sex"))
        views[m] = [anatomy.SubjectBrain(
            age=float(age[i]), male=float(male[i]), weight_z=float(o["weight"].iat[i]),
            body_fat_z=float(o["body_fat"].iat[i]), hypertension_z=float(o["hypertension"].iat[i]),
            smoking_z=float(o["smoking"].iat[i]), code=code[i]) for i in range(len(o))]
    return list(zip(views["structural"], views["dwi"], strict=True))


def make_world(world: str = "linear", shape_share: float | None = None,
               anatomy_mm: float | None = None, diffeomorphic: bool | None = None) -> anatomy.World:
    """The :class:`~legibility.cohort.anatomy.World` named by ``world``; ``shape_share``
    defaults to 0 in the linear world and to ``DEFAULT_SHAPE_SHARE`` in the anatomical one,
    ``anatomy_mm`` to :data:`~legibility.cohort.anatomy.ANATOMY_MM` and ``diffeomorphic`` to
    True in the anatomical one."""
    if shape_share is None:
        shape_share = anatomy.DEFAULT_SHAPE_SHARE if world == "anatomical" else 0.0
    return anatomy.World(world, float(shape_share), anatomy_mm, diffeomorphic)


def _write_volume(path: Path, vol: np.ndarray, affine: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.round(vol * 1000.0), 0, 32767).astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    atomic_nifti(img, path, sync=False)  # the cohort counts as written once cohort.json is, last


# Worker state, set before the pool forks.
_JOB: dict = {}


def _one(i: int):
    j = _JOB
    rng = np.random.default_rng(j["seeds"][i])
    structural, dwi = j["brains"][i]
    vols = anatomy.synthesise(structural, dwi, j["side"], rng, j["template"], j["world"])
    aff = anatomy.output_affine(j["side"])
    for mod, vol in vols.items():
        _write_volume(paths.volume_path(j["root"], j["folders"][i], mod, j["ids"][i]), vol, aff)
    age_c = 63.1 + 7.5 * j["conn_age"][i]
    return connectome.subject_connectivity(
        j["nodes"], age_c, float(j["conn_male"][i]), j["conn_code"][i], rng,
        gain=CODE_GAIN["connectivity"])


def _write_participants(n: int, workers: int, progress: bool) -> list[np.ndarray]:
    """Write the ``n`` participants of the job set up in ``_JOB`` (their volumes), in ``workers``
    processes; their connectivity matrices, in order."""
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc="synthetic participants", unit="subj", disable=not progress)
    conn = [None] * n
    if workers > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            for i, mat in enumerate(pool.imap(_one, range(n), chunksize=4)):
                conn[i] = mat
                bar.update()
    else:
        for i in range(n):
            conn[i] = _one(i)
            bar.update()
    bar.close()
    return conn


def _write_tables(out: Path, values: pd.DataFrame, lat: pd.DataFrame, obs: dict, ids: np.ndarray,
                  folders: np.ndarray, conn: list[np.ndarray]):
    """Each split's characteristics table, connectivity matrices and id list, in the paper's layout,
    and the latent traits beside them."""
    meta = values.copy()
    meta.insert(0, "biobank_id", ids)
    for folder in paths.SPLIT_DIRS.values():
        sel = folders == folder
        order = np.argsort(ids[sel])
        sel_idx = np.flatnonzero(sel)[order]
        base = out / folder
        base.mkdir(parents=True, exist_ok=True)
        meta.iloc[sel_idx].to_csv(paths.metadata_path(out, folder), index=False)
        npy, txt = paths.fmri_paths(out, folder)
        np.save(npy, np.stack([conn[i] for i in sel_idx]).astype(np.float32))
        txt.write_text("".join(f"{ids[i]}\n" for i in sel_idx))
    latents = lat.copy()
    latents.insert(0, "biobank_id", ids)
    latents.insert(1, "folder", folders)
    for m in MODALITIES:
        for c in ("sex", "age"):
            latents[f"{m}_{c}_obs"] = obs[m][c].to_numpy()
    latents.to_csv(out / paths.LATENTS, index=False)


def draw_participants(n: int, seed: int):
    """The cohort's ``n`` participants in the generator's draw order: ``(rng, latents, values,
    liabilities, observations, ids)``; ``rng`` goes on to draw the split. Whoever replays a
    cohort from its seed (to know what made its images) draws through here."""
    rng = np.random.default_rng(seed)
    lat = draw_latents(n, rng)
    values, lia = make_characteristics(lat, rng)
    obs = observe(lia, rng)
    ids = rng.choice(5_000_000, n, replace=False) + 1_000_000
    return rng, lat, values, lia, obs, ids


def generate_cohort(out, n: int = 200, side: int = 64, seed: int = 0, regions: int = 96,
                    nodes: int = 100, workers: int | None = None, progress: bool = True,
                    ceiling_n: int = 20_000, format: str = "paper", world: str = "linear",
                    shape_share: float | None = None, asymptote_n: int | None = None,
                    anatomy_mm: float | None = None, diffeomorphic: bool | None = None) -> dict:
    """Generate ``n`` participants and write them to ``out`` in the paper's layout (or BIDS).

    Parameters
    ----------
    out : path
        Destination folder (created; must be empty or absent).
    n : int
        Number of participants (80% in ``TRAIN/``, 20% in ``TEST/``).
    side : int
        Voxels per side of the written volumes (the paper's inputs are 128).
    seed : int
        Everything is deterministic for a seed, whatever the number of workers.
    regions : int
        Number of brain regions carrying the many small effects (at least 25).
    nodes : int
        Connectivity nodes (the paper: 360).
    ceiling_n : int
        Size of the independent sample the ground-truth ceilings are computed on.
    format : {"paper", "bids"}
        ``bids`` writes a BIDS dataset (see :func:`legibility.data.bids.write_bids`): the
        paper's ``TEST/`` is already split there (the ``split`` column of participants.tsv).
    world : {"linear", "anatomical"}
        ``linear``: every regional imprint is an intensity change in a fixed template region.
        ``anatomical``: each participant has an individual anatomy and a misregistration of a
        few mm and degrees (nuisance), and part of each imprint is carried by shape
        (:class:`legibility.cohort.anatomy.World`). The information in the images, hence the
        ground truth, is the same in both.
    shape_share : float, optional
        Anatomical world only: the share of each modality's regional imprint carried by shape
        (regional volume change) rather than by intensity in a fixed region, in ``[0, 1]``;
        default :data:`legibility.cohort.anatomy.DEFAULT_SHAPE_SHARE`.
    anatomy_mm : float, optional
        Anatomical world only: the size (RMS per axis, mm) of each participant's individual
        anatomy; default :data:`legibility.cohort.anatomy.ANATOMY_MM`.
    diffeomorphic : bool, optional
        Anatomical world only: the individual anatomy as a diffeomorphism (default) or as a
        plain displacement (benchmark suite v1; see :class:`legibility.cohort.anatomy.World`).
    asymptote_n : int, optional
        Size of the image sample the linear asymptotes are computed on
        (:mod:`legibility.cohort.asymptote`), written beside the ceilings in
        ``ground_truth.csv``; 0 skips them. Default: 6,000 in the anatomical world, 0 in the
        linear one (whose images are linear in what they carry: a linear learner reaches the
        ceiling there, see ``benchmarks/results/bounds.md``).

    Returns
    -------
    dict
        What was written and how long it took.
    """
    out = Path(out)
    the_world = make_world(world, shape_share, anatomy_mm, diffeomorphic)
    if format not in ("paper", "bids"):
        raise SettingError(f"format must be 'paper' or 'bids'; got {format!r}.")
    if format == "bids":
        return _generate_bids(out, n=n, side=side, seed=seed, regions=regions, nodes=nodes, workers=workers,
                              progress=progress, ceiling_n=ceiling_n, world=world, shape_share=shape_share,
                              asymptote_n=asymptote_n, anatomy_mm=anatomy_mm,
                              diffeomorphic=diffeomorphic)
    if n < 10:
        raise SettingError(f"n must be at least 10 participants (got {n}).")
    if side < 16:
        raise SettingError(f"side must be at least 16 voxels (got {side}).")
    if out.exists() and any(out.iterdir()):
        raise FolderInUseError(
            f"{out} is not empty; choose a new folder or delete it first.")
    t0 = time.perf_counter()
    rng, lat, values, lia, obs, ids = draw_participants(n, seed)
    n_train = int(round(TRAIN_FRACTION * n))
    is_train = np.zeros(n, bool)
    is_train[rng.permutation(n)[:n_train]] = True
    folders = np.where(is_train, paths.SPLIT_DIRS["train"], paths.SPLIT_DIRS["test"])
    child_seeds = np.random.SeedSequence(seed).spawn(n)

    region_code(regions, len(TARGETS), "structural")  # validate before any work
    _JOB.clear()
    _JOB.update(
        seeds=child_seeds, brains=_brains(obs, regions), side=side, root=out, ids=ids,
        folders=folders, template=anatomy.template(regions), nodes=nodes, world=the_world,
        conn_age=unshrunk(obs, "connectivity", "age"),
        conn_male=_maleness(unshrunk(obs, "connectivity", "sex")),
        conn_code=weighted_code(obs, "connectivity").astype(np.float32),
    )
    workers = workers or min(os.cpu_count() or 1, 8)
    asymptote_n = 6000 if asymptote_n is None and the_world.anatomical else (asymptote_n or 0)
    gt = _ground_truth(the_world, ceiling_n, asymptote_n, min(side, 32), regions, workers, progress)
    out.mkdir(parents=True, exist_ok=True)
    t_images = time.perf_counter()
    conn = _write_participants(n, workers, progress)
    t_images = time.perf_counter() - t_images
    _write_tables(out, values, lat, obs, ids, folders, conn)
    gt.to_csv(out / paths.GROUND_TRUTH, index=False)
    info = {
        "generator": "legibility synthetic cohort", "version": __version__, "n": n,
        "n_train": int(is_train.sum()), "n_test": int((~is_train).sum()), "side": side,
        "seed": seed, "regions": regions, "nodes": nodes, "ceiling_n": ceiling_n, "asymptote_n": asymptote_n,
        "code_gain": CODE_GAIN, "world": the_world.kind, "shape_share": the_world.shape_share,
        "anatomy_mm": the_world.anatomy_mm, "diffeomorphic": the_world.diffeomorphic,
        "seconds": round(time.perf_counter() - t0, 2),
        "seconds_images": round(t_images, 2), "workers": workers,
    }
    (out / paths.COHORT_INFO).write_text(json.dumps(info, indent=2))
    return info


def _ground_truth(world: anatomy.World, ceiling_n: int, asymptote_n: int, side: int, regions: int,
                  workers: int, progress: bool):
    """The ceilings (and in the anatomical world the linear asymptotes) of every model, computed
    or read from the user cache before any participant is written: a failure here leaves no
    half-written cohort."""
    from legibility.cohort.ground_truth import cached_ceilings  # looked up at call time (tests patch it)

    gt = cached_ceilings(n=ceiling_n, progress=progress)
    if asymptote_n:
        from legibility.cohort.asymptote import cached_asymptotes

        gt = cached_asymptotes(gt, world, n=asymptote_n, side=side, regions=regions, workers=workers,
                               progress=progress)
    return gt


def _generate_bids(out: Path, **kw) -> dict:
    """The paper's layout in a temporary sibling folder, then moved into BIDS at ``out``."""
    import shutil

    from legibility.data.bids import write_bids
    from legibility.data.layout import load_dataset

    if out.exists() and any(out.iterdir()):
        raise FolderInUseError(f"{out} is not empty; choose a new folder or delete it first.")
    tmp = out.parent / f".{out.name}.paper-layout"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = generate_cohort(tmp, format="paper", **kw)
        ds = load_dataset(tmp)
        write_bids(ds.table, out, name="legibility synthetic cohort", move=True,
                   extra_files=[tmp / paths.LATENTS, tmp / paths.GROUND_TRUTH],
                   description="A synthetic cohort standing in for the UK Biobank imaging cohort "
                               "(Ruffle et al., NeuroImage 2024), made by `legibility cohort --format bids`.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info["format"] = "bids"
    (out / paths.COHORT_INFO).write_text(json.dumps(info, indent=2))
    with open(out / ".bidsignore", "a") as f:
        f.write(paths.COHORT_INFO + "\n")
    return info
