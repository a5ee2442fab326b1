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
# # 05 · Domain effects: which inputs help which kind of characteristic
#
# As in the paper: per domain, a linear mixed-effects model of test performance on 0/1 indicators
# of the inputs each model used, with a random intercept per target, fitted by REML as nlme does
# in R (t-tests on nlme's degrees of freedom; R² models on the models with R² > 0). `T1`
# stands for structural imaging (T1 and FLAIR always enter together). Give `metrics="published"`
# to fit the paper's own table.

# %% tags=["parameters"]
metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = "results/sweep"  # our sweep (used when metrics is "")
out_dir: str = "results/analysis"  # where domain_effects.csv goes
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the figure names (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

from legibility.analysis import domain_effects, load_metrics
from legibility.figures import save_figure
from legibility.figures.paper import plot_domain_effects
from legibility.paths import in_project

sweep_dir, out_dir, figures_dir = (in_project(p, root_dir) for p in (sweep_dir, out_dir, figures_dir))
if metrics != "published":
    metrics = in_project(metrics, root_dir)

# %%
table = load_metrics(metrics or f"{sweep_dir}/metrics_comparison_test.csv")
effects = domain_effects(table)
Path(out_dir).mkdir(parents=True, exist_ok=True)
effects.to_csv(f"{out_dir}/{label + '_' if label else ''}domain_effects.csv", index=False)
effects.round(4)

# %%
fig = plot_domain_effects(effects)
save_figure(fig, f"{label + '_' if label else ''}domain_effects", figures_dir)
