# %% [markdown]
# # 05 · Domain effects: which inputs help which kind of characteristic
#
# As in the paper: per domain, a linear mixed-effects model of test performance on 0/1 indicators
# of the inputs each model used, with a random intercept per target, fitted by REML as nlme does
# in R (t-tests on nlme's degrees of freedom; R² models on the models with R² > 0). `T1`
# stands for structural imaging (T1 and FLAIR always enter together). Give `metrics="published"`
# to fit the paper's own table. Each cell runs one step of `legibility analyse`
# (`legibility/report.py`), so both write the same files.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = defaults.MODELS  # our sweep (used when metrics is "")
out_dir: str = "results/analysis"  # where domain_effects.csv goes
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the names of the files written (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from legibility.analysis import load_metrics
from legibility.paths import in_project
from legibility.report import domain_effects_figure, write_domain_effects

sweep_dir, out_dir, figures_dir = (in_project(p, root_dir) for p in (sweep_dir, out_dir, figures_dir))
if metrics != "published":
    metrics = in_project(metrics, root_dir)

# %%
table = load_metrics(metrics or f"{sweep_dir}/metrics_comparison_test.csv")
effects, _ = write_domain_effects(table, out_dir, label)
effects.round(4)

# %%
fig, saved = domain_effects_figure(effects, figures_dir, label)
saved
