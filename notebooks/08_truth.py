# %% [markdown]
# # 08 · The paper's analysis against the truth
#
# The paper's domain effects (notebook 05: linear mixed models with a random intercept per
# target, nlme's statistics) say which inputs help which kind of characteristic. On a synthetic
# cohort we know how legible each target truly is from each input set, so the same analysis can
# be fitted on up to four tables of the 700-model schema:
#
# - **ceiling**: the ground-truth ceilings (what a perfect learner reads: the information);
# - **linear peer**: the linear peers of all 700 models on this cohort (a ridge or a
#   class-balanced logistic regression, penalty chosen on validation, scored on test),
#   fitted on one decomposition per design (`legibility/peers.py`);
# - **deep**: the deep sweep's models, whatever it holds;
# - **published**: the paper's own table.
#
# An effect the ceilings show is in the data; one only the trained models show comes from
# training at a fixed sample size. `legibility truth` runs the same steps.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

data_path: str = defaults.COHORT  # a synthetic cohort (its ground_truth.csv gives the ceilings)
side: int = defaults.SIDE  # working side of the volumes (the cache's)
sweep_dir: str = defaults.MODELS  # the deep sweep (its metrics_comparison_test.csv); "" for none
published: str = "published"  # the paper's table: "published" (downloaded once, checked), a path, or ""
out_dir: str = "results/analysis"  # where the tables go
figures_dir: str = "figures"  # where figures are saved
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root

# %%
from pathlib import Path

from legibility.paths import GROUND_TRUTH, in_project
from legibility.truth import run_truth

data_path, sweep_dir, out_dir, figures_dir = (in_project(p, root_dir) for p in (data_path, sweep_dir, out_dir,
                                                                                  figures_dir))
if published and published != "published":
    published = in_project(published, root_dir)
synthetic = (Path(data_path) / GROUND_TRUTH).exists()
print("synthetic cohort:", synthetic, "-", data_path)

# %% [markdown]
# ## The tables, the effects and the figure
# (Only on a synthetic cohort: real data have no ceilings.)

# %%
if synthetic:
    result = run_truth(data_path, Path(out_dir) / "truth", figures_dir=figures_dir,
                       sweep_metrics=f"{sweep_dir}/metrics_comparison_test.csv" if sweep_dir else None,
                       published=published or None, side=side)
    print(f"{len(result['tables'].get('linear peer', []))} linear peers in {result['peer_seconds']:.1f} s")
    for source, note in result["notes"].items():
        print(f"{source}: {note}")
    print({source: len(table) for source, table in result["tables"].items()})

# %% [markdown]
# ## Each term's coefficient (SE) and stars, per source
# `*` p<0.05, `**` p<0.01, `***` p<0.001 (t-tests on nlme's degrees of freedom).

# %%
result["by_term"] if synthetic else None

# %%
result["figure"] if synthetic else None
