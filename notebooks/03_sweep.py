# %% [markdown]
# # 03 · The sweep: a grid of models over one cache
#
# The paper trained 700 models: every target with every input set its rules allow. `grid="paper"`
# runs them all (thousands of CPU-hours; use `executor="ray"` on a cluster), `grid="quick"` a
# documented subset of 29 that shows the paper's contrast on a laptop, or give a CSV of
# (`Target`, `Inputs`) pairs. Finished models are read back, not retrained; a half-trained one
# resumes from its checkpoint; a failing one is recorded and the rest go on.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

data_path: str = defaults.COHORT  # dataset folder or manifest CSV
sweep_dir: str = defaults.MODELS  # model folders and the gathered tables
grid: str = defaults.GRID  # "quick", "paper" or a CSV with Target and Inputs columns
executor: str = "local"  # "local" or "ray"
address: str = ""  # a Ray cluster to join ("auto" or host:port); empty: a local Ray
preset: str = defaults.PRESET  # "cpu" (narrow, 32^3) or "paper"
side: int = defaults.SIDE  # working side of the volumes
epochs: int = defaults.EPOCHS  # at most this many epochs per model
patience: int = defaults.PATIENCE  # epochs without a better validation loss before stopping
lr: float = None  # peak learning rate; None: the preset's (cpu 3e-3, paper 1e-4)
batch_size: int = None  # participants per batch; None: the preset's (64 for both)
seed: int = defaults.SEED  # random seed
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
import pandas as pd

from legibility.paths import in_project
from legibility.sweep import SweepConfig, load_grid, sweep

data_path, sweep_dir = in_project(data_path, root_dir), in_project(sweep_dir, root_dir)
if grid not in ("quick", "paper"):
    grid = in_project(grid, root_dir)

# %%
jobs = load_grid(grid)
print(f"{len(jobs)} models")
pd.DataFrame([(t.display, s.label) for t, s in jobs], columns=["Target", "Inputs"])

# %%
config = SweepConfig(preset=preset, side=side, epochs=epochs, patience=patience, lr=lr, batch_size=batch_size,
                     seed=seed)
metrics = sweep(data_path, sweep_dir, grid, executor=executor, address=address or None, config=config)

# %% [markdown]
# ## The gathered table (the published schema, plus our extra columns)

# %%
metrics

# %%
pd.read_csv(f"{sweep_dir}/sweep_log.csv")
