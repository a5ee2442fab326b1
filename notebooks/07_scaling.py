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
# # 07 · Is the limit the brain, or the data?
#
# The deep model and its linear peer trained on nested subsets of the training set (each larger
# set holds the smaller ones; the same validation and test sets for all), scored on the test set
# beside the ground-truth ceiling: how close each learner comes to what the images carry, as the
# cohort grows. The deep model sees about `samples` training participants at every size (epochs =
# samples / size, with early stopping), so its cost does not grow with the size.

# %% tags=["parameters"]
data_path: str = "results/data/synthetic"  # dataset folder or manifest CSV (notebook 01 writes this one)
scaling_dir: str = "results/scaling"  # scaling.csv and the model folders
scaling_targets: str = "age sex"  # space-separated target keys
scaling_inputs: str = "t1 flair"  # space-separated input keys
scaling_sizes: str = "250 500 1000 2000 4000"  # training sizes, nested; 1 or less is a fraction of the training set
scaling_seeds: int = 2  # seeds per size
scaling_samples: int = 16000  # training participants seen per deep model
scaling_max_epochs: int = 40  # most epochs per deep model (early stopping may end sooner)
preset: str = "cpu"  # "cpu" (narrow, 32^3) or "paper"
figures_dir: str = "figures"  # where figures are saved

# %%
from legibility.figures import save_figure
from legibility.figures.scaling import plot_scaling
from legibility.scaling import ScalingConfig, scaling_study

# %%
config = ScalingConfig(targets=tuple(scaling_targets.split()), inputs=tuple(scaling_inputs.split()),
                       sizes=tuple(float(n) for n in scaling_sizes.split()), seeds=scaling_seeds,
                       samples=scaling_samples, max_epochs=scaling_max_epochs, preset=preset)
table = scaling_study(data_path, scaling_dir, config)
table.round(3)

# %% [markdown]
# ## Score against training size

# %%
fig = plot_scaling(table)
save_figure(fig, "scaling", figures_dir)

# %% [markdown]
# ## The gap to the ceiling at each size (mean over seeds)

# %%
gap = table.assign(gap=table.ceiling - table.test_score).pivot_table(
    index=["target", "n_train"], columns="learner", values="gap")
gap.round(3)
