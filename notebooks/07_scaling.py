# %% [markdown]
# # 07 · Is the limit the brain, or the data?
#
# The deep model and its linear peer trained on nested subsets of the training set (each larger
# set holds the smaller ones; the same validation and test sets for all), scored on the test set
# beside the ground-truth ceiling: how close each learner comes to what the images carry, as the
# cohort grows. The deep model sees about `samples` training participants at every size (epochs =
# samples / size, with early stopping), so its cost does not grow with the size.

# %% tags=["parameters"]
from legibility import defaults  # the main job's sizes and places, defined once

data_path: str = defaults.COHORT  # dataset folder or manifest CSV (notebook 01 writes this one)
scaling_dir: str = defaults.SCALING["scaling_dir"]  # scaling.csv and the model folders
scaling_targets: str = defaults.SCALING["scaling_targets"]  # space-separated target keys
scaling_inputs: str = "t1 flair"  # space-separated input keys
scaling_sizes: str = defaults.SCALING["scaling_sizes"]  # training sizes, nested; 1 or less is a fraction of the training set
scaling_seeds: int = defaults.SCALING["scaling_seeds"]  # seeds per size
scaling_samples: int = defaults.SCALING["scaling_samples"]  # training participants seen per deep model
scaling_max_epochs: int = defaults.SCALING["scaling_max_epochs"]  # most epochs per deep model (early stopping may end sooner)
preset: str = defaults.PRESET  # "cpu" (narrow, 32^3) or "paper"
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
