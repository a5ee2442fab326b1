# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Train one model
#
# One model of the paper's grid, as a worked example: one target, one set of inputs, trained with
# the paper's rules (Adam, early stopping on validation loss, the best model kept), then judged on
# the held-out test set in original units, beside a linear model given the same inputs and, on a
# synthetic cohort, beside the ground-truth ceiling.

# %% tags=["parameters"]
data_path: str = "results/data/synthetic"  # dataset folder or manifest CSV (notebook 01 writes this one)
outpath: str = "results/models"  # where model folders go
target: str = "age"  # a target key or the paper's name
inputs: str = "t1 flair"  # space-separated input keys: t1 flair dwi connectivity metadata
metadata_blocks: str = ""  # space-separated domains, e.g. "constitutional disease"
preset: str = "cpu"  # "cpu" (narrow, 32^3) or "paper" (the paper's widths)
side: int = 32  # working side of the volumes
epochs: int = 30  # at most this many epochs (early stopping may end sooner)
patience: int = 10  # epochs without a better validation loss before stopping
lr: float = None  # peak learning rate; None: the preset's (cpu 3e-3, paper 1e-4)
batch_size: int = None  # participants per batch; None: the preset's (64 for both)
seed: int = 0  # random seed
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from legibility.config import TrainConfig
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.evaluation import model_beside_ceiling
from legibility.paths import in_project
from legibility.train import train_model

data_path, outpath = in_project(data_path, root_dir), in_project(outpath, root_dir)

# %%
cache = build_cache(load_dataset(data_path), side)
config = TrainConfig(target=target, inputs=tuple(inputs.split()), metadata_blocks=tuple(metadata_blocks.split()),
                     preset=preset, side=side, epochs=epochs, patience=patience, lr=lr,
                     batch_size=batch_size, seed=seed)
result = train_model(cache, config, outpath, restore=True)  # a finished model is read back

# %% [markdown]
# ## Test performance, beside the linear peer and the ceiling

# %%
model_beside_ceiling(data_path, result)

# %% [markdown]
# ## Training curves and test predictions

# %%
from legibility.study import model_name, resolve_inputs

folder = f"{outpath}/{model_name(*resolve_inputs(target, inputs, metadata_blocks))}"
display(Image(f"{folder}/training_curves.png"))
for name in ("predicted_vs_true.png", "confusion_matrix.png"):
    if Path(f"{folder}/{name}").exists():
        display(Image(f"{folder}/{name}"))
pd.read_csv(f"{folder}/metrics.csv").T
