"""Where every file lives: the on-disk layouts, the cache and the project's output folders."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJECT_ROOT", "FIGURES", "RESULTS", "NOTEBOOKS", "in_project", "user_cache",
    "SPLIT_DIRS", "MODALITY_DIRS", "volume_path", "fmri_paths", "metadata_path",
    "GROUND_TRUTH", "LATENTS", "COHORT_INFO", "BEST_MODELS",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIGURES = PROJECT_ROOT / "figures"
RESULTS = PROJECT_ROOT / "results"
NOTEBOOKS = PROJECT_ROOT / "notebooks"

def in_project(path, root=None) -> str:
    """``path`` as it is when absolute or empty; else under ``root`` (default: the repository root).

    The notebooks resolve their path parameters with it, so that one opened in Jupyter (whose
    working folder is ``notebooks/``) writes where ``legibility paper`` does, never under ``notebooks/``.
    """
    if not path or Path(path).is_absolute():
        return str(path)
    return str(Path(root or PROJECT_ROOT) / path)


# --- the paper's layout: DIR/TRAIN and DIR/TEST
SPLIT_DIRS = {"train": "TRAIN", "test": "TEST"}  # TEST holds both validation and test
MODALITY_DIRS = {"t1": "T1", "flair": "FLAIR", "dwi": "DWI"}

# --- files the synthetic generator adds beside the layout
GROUND_TRUTH = "ground_truth.csv"  # ceilings, in the published metrics schema
LATENTS = "latents.csv"  # every participant's latent traits (the ground truth)
COHORT_INFO = "cohort.json"  # how the cohort was made

# --- the analyses' products
BEST_MODELS = "best_models.csv"  # each target's best input set, chosen on validation


def volume_path(root: Path, folder: str, modality: str, pid) -> Path:
    """``root/TRAIN/T1/<id>_t1.nii.gz``."""
    return Path(root) / folder / MODALITY_DIRS[modality] / f"{pid}_{modality}.nii.gz"


def fmri_paths(root: Path, folder: str) -> tuple[Path, Path]:
    """``imaging_fmri_train.npy`` and its ids file ``imaging_fmri_train.txt``."""
    tag = folder.lower()
    base = Path(root) / folder
    return base / f"imaging_fmri_{tag}.npy", base / f"imaging_fmri_{tag}.txt"


def metadata_path(root: Path, folder: str) -> Path:
    return Path(root) / folder / f"metadata_{folder.lower()}.csv"


def user_cache() -> Path:
    """Per-user cache (ground-truth ceilings, downloads): ``$LEGIBILITY_CACHE`` or XDG."""
    env = os.environ.get("LEGIBILITY_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "legibility"

# The paper's published metrics table: fetched from upstream with its checksum, never copied.
PUBLISHED_METRICS_URL = (
    "https://raw.githubusercontent.com/high-dimensional/biobank-megamodeller/"
    "286a3ecb0e4979f9445e2bec600296c13df3c4cf/assets/metrics_comparison_test.csv"
)
PUBLISHED_METRICS_SHA256 = "2c7a6adf5d48c05a3bb1295e84951590f825c82a5239dfe60a7232549dbcd676"
