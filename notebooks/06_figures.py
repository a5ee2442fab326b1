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
# # 06 · The paper's figures
#
# The performance grid (best input set per target boxed: chosen on validation for our sweeps,
# the published table's own test-based choice for the paper's), training efficiency, the target
# networks and the interactive dashboard, from our sweep's metrics or, with
# `metrics="published"`, from the paper's table. The association networks need participant data:
# `cohort_path` (on our runs, the cohort they were trained on).

# %% tags=["parameters"]
metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = "results/sweep"  # our sweep (used when metrics is "")
cohort_path: str = "results/data/synthetic"  # participant data for the association networks ("" to skip)
out_dir: str = "results/analysis"  # where the dashboard and headline table go
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the figure names (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

from IPython.display import display

from legibility.analysis import load_metrics
from legibility.dashboard import write_dashboard
from legibility.evaluation import best_for
from legibility.figures import save_figure
from legibility.figures.paper import headline, plot_networks, plot_performance_grid, plot_training_efficiency
from legibility.paths import in_project
from legibility.report import networks_for

sweep_dir, out_dir, figures_dir, cohort_path = (in_project(p, root_dir)
                                                for p in (sweep_dir, out_dir, figures_dir, cohort_path))
if metrics != "published":
    metrics = in_project(metrics, root_dir)

table = load_metrics(metrics or f"{sweep_dir}/metrics_comparison_test.csv")
prefix = f"{label}_" if label else ""
# The best input set of each target: our sweep's was chosen on validation by notebook 04
# (best_models.csv); the published table has test scores only, so its choice is test-based.
best = best_for(metrics or f"{out_dir}/best_models.csv")
best[["Target", "Inputs", "selected_by"]]

# %% [markdown]
# ## Performance grid

# %%
fig = plot_performance_grid(table, best=best)
save_figure(fig, prefix + "performance_grid", figures_dir, formats=("png", "pdf", "svg"))

# %% [markdown]
# ## Training efficiency

# %%
fig = plot_training_efficiency(table)
save_figure(fig, prefix + "training_efficiency", figures_dir)

# %% [markdown]
# ## Target networks and the dashboard

# %%
graphs, note = networks_for(table, cohort_path if cohort_path and Path(cohort_path).exists() else None)
print(note)
fig = plot_networks(graphs)
save_figure(fig, prefix + "networks", figures_dir)
dashboard = write_dashboard(table, graphs, f"{out_dir}/{prefix}dashboard.html", note=note, best=best)
print("dashboard:", dashboard)

# %% [markdown]
# ## Headline: every target's best model

# %%
heads = headline(table, best)
heads.to_csv(f"{out_dir}/{prefix}headline.csv", index=False)
heads.round(3)
