# %% [markdown]
# # 04 · Evaluate: the best input set per target, beside the ceiling
#
# For each target, its best input set (the highest balanced accuracy for binary targets, R² for
# continuous ones) is chosen on the **validation** set; only then is its test score read, with a
# bootstrap 95% interval. Beside it: a linear model given the same inputs and, on a synthetic
# cohort, the ground-truth ceiling with its standard error: what a well-specified model given
# exactly the information those inputs carry reaches on a large independent sample. The choice
# is written to `best_models.csv`, which the figures, the dashboard and the closing summary read.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

sweep_dir: str = defaults.MODELS  # the sweep: its metrics_all.csv and model folders
data_path: str = defaults.COHORT  # the data the models were trained on (ceilings if synthetic)
out_dir: str = "results/analysis"  # where best_models.csv goes
figures_dir: str = "figures"  # where figures are saved
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

import pandas as pd

from legibility.evaluation import best_models, model_diagnostics
from legibility.figures import save_figure
from legibility.figures.evaluation import plot_best_vs_ceiling, plot_model_curves
from legibility.paths import in_project

sweep_dir, data_path, out_dir, figures_dir = (in_project(p, root_dir)
                                                for p in (sweep_dir, data_path, out_dir, figures_dir))

# %%
best = best_models(pd.read_csv(f"{sweep_dir}/metrics_all.csv"), data_path)
Path(out_dir).mkdir(parents=True, exist_ok=True)
best.to_csv(f"{out_dir}/best_models.csv", index=False)
best.round(3)

# %%
fig = plot_best_vs_ceiling(best)
save_figure(fig, "best_vs_ceiling", figures_dir)

# %% [markdown]
# ## Per-model diagnostics

# %%
model_diagnostics(sweep_dir).round(3)

# %%
fig = plot_model_curves(sweep_dir)
save_figure(fig, "training_curves_all", figures_dir, formats=("png",))
