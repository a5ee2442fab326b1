"""The main job's sizes and places, defined once.

``legibility paper``, the notebooks' ``parameters`` cells, and the ``train`` and ``sweep`` flags
read their defaults from here, so a notebook opened in JupyterLab and run with its defaults
trains (or reads back) the very models ``legibility paper`` trained, in the same folders.

The sizes fit the whole paper into about six minutes on a 2-core machine: 700 synthetic
participants at 32^3, the ``quick`` grid with the ``cpu`` preset, at most 12 epochs a model. A
real run on a GPU raises them on the command line (``--epochs``, ``--patience``, ``--grid paper``).
"""

from __future__ import annotations

__all__ = ["CEILING_N", "COHORT", "EPOCHS", "GRID", "MODELS", "N_PARTICIPANTS", "PATIENCE", "PRESET",
           "SCALING", "SEED", "SIDE", "TARGET", "INPUTS"]

# The synthetic cohort (notebook 01, `legibility cohort` via the main job)
COHORT = "results/data/synthetic"  # where the synthetic cohort is written and read
N_PARTICIPANTS = 700  # 560 train, 70 validation, 70 test
SIDE = 32  # voxels per side of the volumes and the cache
CEILING_N = 5000  # reference participants of the ground-truth ceilings
SEED = 0

# Training (notebooks 02, 03; `train`, `sweep`, `paper`)
PRESET = "cpu"  # network widths and training recipe (legibility.config.TRAINING_DEFAULTS)
EPOCHS = 12  # at most this many epochs a model (early stopping may end sooner)
PATIENCE = 6  # epochs without a better validation loss before stopping
MODELS = "results/sweep"  # model folders and the gathered tables: the sweep's, shared by notebook 02
GRID = "quick"  # 29 models (legibility.sweep); "paper" is the 700

# Notebook 02's worked example: a model of the quick grid, so the sweep reads it back
TARGET = "age"
INPUTS = "t1 flair"

# Notebook 07's scaling study at the main job's size: age only, one seed, a quarter, a half and
# all of the training set (140, 280, 560 of 700), at most EPOCHS epochs and ~4,000 samples seen
# a model. The full study is `legibility scaling` (docs/scaling.md).
SCALING = {"scaling_dir": "results/scaling", "scaling_targets": "age", "scaling_sizes": "0.25 0.5 1",
           "scaling_seeds": 1, "scaling_samples": 4000, "scaling_max_epochs": EPOCHS}
