# %% [markdown]
# # 06 · The paper's figures
#
# The performance grid (best input set per target boxed: chosen on validation for our sweeps,
# the published table's own test-based choice for the paper's), training efficiency, the target
# networks and the interactive dashboard, from our sweep's metrics or, with
# `metrics="published"`, from the paper's table. The association networks need participant data:
# `cohort_path` (on our runs, the cohort they were trained on). Each cell runs one step of
# `legibility analyse` (`legibility/report.py`), so both write the same files.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = defaults.MODELS  # our sweep (used when metrics is "")
cohort_path: str = defaults.COHORT  # participant data for the association networks ("" to skip)
out_dir: str = "results/analysis"  # where the dashboard and headline table go
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the names of the files written (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

from legibility.analysis import load_metrics
from legibility.evaluation import best_models
from legibility.paths import in_project
from legibility.report import (
    dashboard_for,
    networks_figure,
    networks_for,
    performance_grid_figure,
    training_efficiency_figure,
    write_headline,
)

sweep_dir, out_dir, figures_dir, cohort_path = (in_project(p, root_dir)
                                                for p in (sweep_dir, out_dir, figures_dir, cohort_path))
if metrics != "published":
    metrics = in_project(metrics, root_dir)

table = load_metrics(metrics or f"{sweep_dir}/metrics_comparison_test.csv")
# The best input set of each target: our sweep's was chosen on validation by notebook 04
# (best_models.csv); the published table has test scores only, so its choice is test-based.
best = best_models(metrics or f"{out_dir}/best_models.csv")
best[["Target", "Inputs", "selected_by"]]

# %% [markdown]
# ## Performance grid

# %%
fig, saved = performance_grid_figure(table, best, figures_dir, label)
saved

# %% [markdown]
# ## Training efficiency

# %%
fig, saved = training_efficiency_figure(table, figures_dir, label, gpu_labels=metrics == "published")
saved

# %% [markdown]
# ## Target networks and the dashboard

# %%
graphs, note = networks_for(table, cohort_path if cohort_path and Path(cohort_path).exists() else None)
print(note)
fig, saved = networks_figure(graphs, figures_dir, label)
dashboard = dashboard_for(table, graphs, out_dir, note=note, best=best, label=label)
print("dashboard:", dashboard)

# %% [markdown]
# ## Headline: every target's best model

# %%
heads, _ = write_headline(table, best, out_dir, label)
heads.round(3)
