# %% [markdown]
# # 01 · The cohort
#
# The paper used 23,810 UK Biobank participants; their data are restricted, so by default this
# notebook generates a **synthetic cohort** with known ground truth, written in the same layout a
# real user brings (`TRAIN/`, `TEST/`, NIfTI volumes, connectivity `.npy`, `metadata_*.csv`).
# Point `data_path` at your own data to describe it instead.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

data_path: str = ""  # a dataset folder or manifest CSV; empty: generate a synthetic cohort
synthetic_dir: str = defaults.COHORT  # where a synthetic cohort is written
n_participants: int = defaults.N_PARTICIPANTS  # synthetic cohort size
side: int = defaults.SIDE  # voxels per side of the synthetic volumes and of the cache
seed: int = defaults.SEED  # random seed of the synthetic cohort
ceiling_n: int = defaults.CEILING_N  # sample size of the ground-truth ceilings (computed once, then cached)
figures_dir: str = "figures"  # where figures are saved
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

from legibility.cohort.writer import generate_cohort
from legibility.data.cache import build_cache, mean_connectivity, mean_volumes
from legibility.data.layout import load_dataset
from legibility.figures import save_figure
from legibility.figures import cohort as cohort_figures
from legibility.paths import in_project

data_path, synthetic_dir, figures_dir = (in_project(p, root_dir) for p in (data_path, synthetic_dir, figures_dir))

# %% [markdown]
# ## The data: generated (or yours), then checked

# %%
if not data_path:
    data_path = synthetic_dir
    if not (Path(data_path) / "cohort.json").exists():
        generate_cohort(data_path, n=n_participants, side=side, seed=seed, ceiling_n=ceiling_n)
dataset = load_dataset(data_path)
print(dataset.report())

# %% [markdown]
# ## Characteristics by domain

# %%
fig = cohort_figures.plot_distributions(dataset.table)
save_figure(fig, "cohort_distributions", figures_dir)

# %% [markdown]
# ## How the 25 characteristics go together

# %%
ax = cohort_figures.plot_associations(dataset.table)
save_figure(ax.figure, "cohort_associations", figures_dir)

# %% [markdown]
# ## Mean images and mean connectivity (the paper's workflow panel)

# %%
cache = build_cache(dataset, side=side)
fig = cohort_figures.plot_mean_images(mean_volumes(cache))
save_figure(fig, "cohort_mean_images", figures_dir)

# %%
ax = cohort_figures.plot_mean_connectivity(mean_connectivity(cache))
save_figure(ax.figure, "cohort_mean_connectivity", figures_dir)
