"""Write the notebooks (without outputs) from the cell sources below.

The notebooks are the committed artefact; this script is how we keep them tidy. Each notebook
has a ``parameters`` cell (papermill) and cells that each call one package function.
"""

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parent.parent


def notebook(cells, name: str = "notebook"):
    """A notebook without outputs; cell ids are ``<name>-<index>`` so that regenerating an
    unchanged notebook changes nothing on disk."""
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    stem = Path(name).stem.replace(".", "-")
    for i, (kind, src) in enumerate(cells):
        if kind == "md":
            cell = nbf.v4.new_markdown_cell(src.strip())
        else:
            cell = nbf.v4.new_code_cell(src.strip())
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cell.id = f"{stem}-{i}"
        nb.cells.append(cell)
    return nb


COHORT = [
    ("md", """
# 01 · The cohort

The paper used 23,810 UK Biobank participants; their data are restricted, so by default this
notebook generates a **synthetic cohort** with known ground truth, written in the same layout a
real user brings (`TRAIN/`, `TEST/`, NIfTI volumes, connectivity `.npy`, `metadata_*.csv`).
Point `data_path` at your own data to describe it instead.
"""),
    ("parameters", """
data_path: str = ""  # a dataset folder or manifest CSV; empty: generate a synthetic cohort
synthetic_dir: str = "results/data/synthetic"  # where a synthetic cohort is written
n_participants: int = 200  # synthetic cohort size
side: int = 32  # voxels per side of the synthetic volumes and of the cache
seed: int = 0  # random seed of the synthetic cohort
ceiling_n: int = 20000  # sample size of the ground-truth ceilings (computed once, then cached)
figures_dir: str = "figures"  # where figures are saved
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
from pathlib import Path

from legibility.cohort.writer import generate_cohort
from legibility.data.cache import build_cache, mean_connectivity, mean_volumes
from legibility.data.layout import load_dataset
from legibility.figures import save_figure
from legibility.figures import cohort as cohort_figures
from legibility.paths import in_project

data_path, synthetic_dir, figures_dir = (in_project(p, root_dir) for p in (data_path, synthetic_dir, figures_dir))
"""),
    ("md", "## The data: generated (or yours), then checked"),
    ("code", """
if not data_path:
    data_path = synthetic_dir
    if not (Path(data_path) / "cohort.json").exists():
        generate_cohort(data_path, n=n_participants, side=side, seed=seed, ceiling_n=ceiling_n)
dataset = load_dataset(data_path)
print(dataset.report())
"""),
    ("md", "## Characteristics by domain"),
    ("code", """
fig = cohort_figures.plot_distributions(dataset.table)
save_figure(fig, "cohort_distributions", figures_dir)
"""),
    ("md", "## How the 25 characteristics go together"),
    ("code", """
ax = cohort_figures.plot_associations(dataset.table)
save_figure(ax.figure, "cohort_associations", figures_dir)
"""),
    ("md", "## Mean images and mean connectivity (the paper's workflow panel)"),
    ("code", """
cache = build_cache(dataset, side=side)
fig = cohort_figures.plot_mean_images(mean_volumes(cache))
save_figure(fig, "cohort_mean_images", figures_dir)
"""),
    ("code", """
ax = cohort_figures.plot_mean_connectivity(mean_connectivity(cache))
save_figure(ax.figure, "cohort_mean_connectivity", figures_dir)
"""),
]

TRAIN = [
    ("md", """
# 02 · Train one model

One model of the paper's grid, as a worked example: one target, one set of inputs, trained with
the paper's rules (Adam, early stopping on validation loss, the best model kept), then judged on
the held-out test set in original units, beside a linear model given the same inputs and, on a
synthetic cohort, beside the ground-truth ceiling.
"""),
    ("parameters", """
data_path: str = "results/data/synthetic"  # dataset folder or manifest CSV (notebook 01 writes this one)
outpath: str = "results/models"  # where model folders go
target: str = "age"  # a target key or the paper's name
inputs: str = "t1 flair"  # space-separated input keys: t1 flair dwi connectivity metadata
metadata_blocks: str = ""  # space-separated domains, e.g. "constitutional disease"
preset: str = "cpu"  # "cpu" (narrow, 32^3) or "paper" (the paper's widths)
side: int = 32  # working side of the volumes
epochs: int = 30  # at most this many epochs (early stopping may end sooner)
patience: int = 10  # epochs without a better validation loss before stopping
lr: float = None  # Adam learning rate; None: the preset's (cpu 1e-3, paper 1e-4)
batch_size: int = None  # participants per batch; None: the preset's (cpu 16, paper 64)
seed: int = 0  # random seed
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.evaluation import ceiling_for
from legibility.paths import in_project
from legibility.train import TrainConfig, train_model

data_path, outpath = in_project(data_path, root_dir), in_project(outpath, root_dir)
"""),
    ("code", """
cache = build_cache(load_dataset(data_path), side)
config = TrainConfig(target=target, inputs=tuple(inputs.split()), metadata_blocks=tuple(metadata_blocks.split()),
                     preset=preset, side=side, epochs=epochs, patience=patience, lr=lr,
                     batch_size=batch_size, seed=seed)
result = train_model(cache, config, outpath, restore=True)  # a finished model is read back
"""),
    ("md", "## Test performance, beside the linear peer and the ceiling"),
    ("code", """
ceiling_for(data_path, result)
"""),
    ("md", "## Training curves and test predictions"),
    ("code", """
from legibility.study import model_name
from legibility.train import resolve_inputs

folder = f"{outpath}/{model_name(*resolve_inputs(target, inputs, metadata_blocks))}"
display(Image(f"{folder}/training_curves.png"))
for name in ("predicted_vs_true.png", "confusion_matrix.png"):
    if Path(f"{folder}/{name}").exists():
        display(Image(f"{folder}/{name}"))
pd.read_csv(f"{folder}/metrics.csv").T
"""),
]

SWEEP = [
    ("md", """
# 03 · The sweep: a grid of models over one cache

The paper trained 700 models: every target with every input set its rules allow. `grid="paper"`
runs them all (thousands of CPU-hours; use `executor="ray"` on a cluster), `grid="quick"` a
documented subset of 29 that shows the paper's contrast on a laptop, or give a CSV of
(`Target`, `Inputs`) pairs. Finished models are read back, not retrained; a half-trained one
resumes from its checkpoint; a failing one is recorded and the rest go on.
"""),
    ("parameters", """
data_path: str = "results/data/synthetic"  # dataset folder or manifest CSV
sweep_dir: str = "results/sweep"  # model folders and the gathered tables
grid: str = "quick"  # "quick", "paper" or a CSV with Target and Inputs columns
executor: str = "local"  # "local" or "ray"
address: str = ""  # a Ray cluster to join ("auto" or host:port); empty: a local Ray
preset: str = "cpu"  # "cpu" (narrow, 32^3) or "paper"
side: int = 32  # working side of the volumes
epochs: int = 30  # at most this many epochs per model
patience: int = 8  # epochs without a better validation loss before stopping
lr: float = None  # Adam learning rate; None: the preset's (cpu 1e-3, paper 1e-4)
batch_size: int = None  # participants per batch; None: the preset's (cpu 16, paper 64)
seed: int = 0  # random seed
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
import pandas as pd

from legibility.paths import in_project
from legibility.sweep import SweepConfig, load_grid, sweep

data_path, sweep_dir = in_project(data_path, root_dir), in_project(sweep_dir, root_dir)
if grid not in ("quick", "paper"):
    grid = in_project(grid, root_dir)
"""),
    ("code", """
jobs = load_grid(grid)
print(f"{len(jobs)} models")
pd.DataFrame([(t.display, s.label) for t, s in jobs], columns=["Target", "Inputs"])
"""),
    ("code", """
config = SweepConfig(preset=preset, side=side, epochs=epochs, patience=patience, lr=lr, batch_size=batch_size,
                     seed=seed)
metrics = sweep(data_path, sweep_dir, grid, executor=executor, address=address or None, config=config)
"""),
    ("md", "## The gathered table (the published schema, plus our extra columns)"),
    ("code", """
metrics
"""),
    ("code", """
pd.read_csv(f"{sweep_dir}/sweep_log.csv")
"""),
]

EVALUATE = [
    ("md", """
# 04 · Evaluate: the best input set per target, beside the ceiling

For each target, its best input set (the highest balanced accuracy for binary targets, R² for
continuous ones) is chosen on the **validation** set; only then is its test score read, with a
bootstrap 95% interval. Beside it: a linear model given the same inputs and, on a synthetic
cohort, the ground-truth ceiling with its standard error: what a well-specified model given
exactly the information those inputs carry reaches on a large independent sample. The choice
is written to `best_models.csv`, which the figures, the dashboard and the closing summary read.
"""),
    ("parameters", """
sweep_dir: str = "results/sweep"  # the sweep: its metrics_all.csv and model folders
data_path: str = "results/data/synthetic"  # the data the models were trained on (ceilings if synthetic)
out_dir: str = "results/analysis"  # where best_models.csv goes
figures_dir: str = "figures"  # where figures are saved
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
from pathlib import Path

import pandas as pd

from legibility.evaluation import best_beside_ceilings, model_diagnostics
from legibility.figures import save_figure
from legibility.figures.evaluation import plot_best_vs_ceiling, plot_model_curves
from legibility.paths import in_project

sweep_dir, data_path, out_dir, figures_dir = (in_project(p, root_dir)
                                                for p in (sweep_dir, data_path, out_dir, figures_dir))
"""),
    ("code", """
best = best_beside_ceilings(pd.read_csv(f"{sweep_dir}/metrics_all.csv"), data_path)
Path(out_dir).mkdir(parents=True, exist_ok=True)
best.to_csv(f"{out_dir}/best_models.csv", index=False)
best.round(3)
"""),
    ("code", """
fig = plot_best_vs_ceiling(best)
save_figure(fig, "best_vs_ceiling", figures_dir)
"""),
    ("md", "## Per-model diagnostics"),
    ("code", """
model_diagnostics(sweep_dir).round(3)
"""),
    ("code", """
fig = plot_model_curves(sweep_dir)
save_figure(fig, "training_curves_all", figures_dir, formats=("png",))
"""),
]

DOMAIN_EFFECTS = [
    ("md", """
# 05 · Domain effects: which inputs help which kind of characteristic

As in the paper: per domain, a linear mixed-effects model of test performance on 0/1 indicators
of the inputs each model used, with a random intercept per target, fitted by REML as nlme does
in R (t-tests on nlme's degrees of freedom; R² models on the models with R² > 0). `T1`
stands for structural imaging (T1 and FLAIR always enter together). Give `metrics="published"`
to fit the paper's own table.
"""),
    ("parameters", """
metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = "results/sweep"  # our sweep (used when metrics is "")
out_dir: str = "results/analysis"  # where domain_effects.csv goes
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the figure names (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
from pathlib import Path

from legibility.analysis import domain_effects, load_metrics
from legibility.figures import save_figure
from legibility.figures.paper import plot_domain_effects
from legibility.paths import in_project

sweep_dir, out_dir, figures_dir = (in_project(p, root_dir) for p in (sweep_dir, out_dir, figures_dir))
if metrics != "published":
    metrics = in_project(metrics, root_dir)
"""),
    ("code", """
table = load_metrics(metrics or f"{sweep_dir}/metrics_comparison_test.csv")
effects = domain_effects(table)
Path(out_dir).mkdir(parents=True, exist_ok=True)
effects.to_csv(f"{out_dir}/{label + '_' if label else ''}domain_effects.csv", index=False)
effects.round(4)
"""),
    ("code", """
fig = plot_domain_effects(effects)
save_figure(fig, f"{label + '_' if label else ''}domain_effects", figures_dir)
"""),
]

FIGURES = [
    ("md", """
# 06 · The paper's figures

The performance grid (best input set per target boxed: chosen on validation for our sweeps,
the published table's own test-based choice for the paper's), training efficiency, the target
networks and the interactive dashboard, from our sweep's metrics or, with
`metrics="published"`, from the paper's table. The association networks need participant data:
`cohort_path` (on our runs, the cohort they were trained on).
"""),
    ("parameters", """
metrics: str = ""  # a metrics_comparison_test.csv; "" for our sweep's; "published" for the paper's table
sweep_dir: str = "results/sweep"  # our sweep (used when metrics is "")
cohort_path: str = "results/data/synthetic"  # participant data for the association networks ("" to skip)
out_dir: str = "results/analysis"  # where the dashboard and headline table go
figures_dir: str = "figures"  # where figures are saved
label: str = ""  # prefix of the figure names (e.g. "published")
root_dir: str = ""  # the folder relative paths above are under; empty: the repository root
"""),
    ("code", """
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
"""),
    ("md", "## Performance grid"),
    ("code", """
fig = plot_performance_grid(table, best=best)
save_figure(fig, prefix + "performance_grid", figures_dir, formats=("png", "pdf", "svg"))
"""),
    ("md", "## Training efficiency"),
    ("code", """
fig = plot_training_efficiency(table)
save_figure(fig, prefix + "training_efficiency", figures_dir)
"""),
    ("md", "## Target networks and the dashboard"),
    ("code", """
graphs, note = networks_for(table, cohort_path if cohort_path and Path(cohort_path).exists() else None)
print(note)
fig = plot_networks(graphs)
save_figure(fig, prefix + "networks", figures_dir)
dashboard = write_dashboard(table, graphs, f"{out_dir}/{prefix}dashboard.html", note=note, best=best)
print("dashboard:", dashboard)
"""),
    ("md", "## Headline: every target's best model"),
    ("code", """
heads = headline(table, best)
heads.to_csv(f"{out_dir}/{prefix}headline.csv", index=False)
heads.round(3)
"""),
]

SCALING = [
    ("md", """
# 07 · Is the limit the brain, or the data?

The deep model and its linear peer trained on nested subsets of the training set (each larger
set holds the smaller ones; the same validation and test sets for all), scored on the test set
beside the ground-truth ceiling: how close each learner comes to what the images carry, as the
cohort grows. The deep model sees about `samples` training participants at every size (epochs =
samples / size, with early stopping), so its cost does not grow with the size.
"""),
    ("parameters", """
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
"""),
    ("code", """
from legibility.figures import save_figure
from legibility.figures.scaling import plot_scaling
from legibility.scaling import ScalingConfig, scaling_study
"""),
    ("code", """
config = ScalingConfig(targets=tuple(scaling_targets.split()), inputs=tuple(scaling_inputs.split()),
                       sizes=tuple(float(n) for n in scaling_sizes.split()), seeds=scaling_seeds,
                       samples=scaling_samples, max_epochs=scaling_max_epochs, preset=preset)
table = scaling_study(data_path, scaling_dir, config)
table.round(3)
"""),
    ("md", "## Score against training size"),
    ("code", """
fig = plot_scaling(table)
save_figure(fig, "scaling", figures_dir)
"""),
    ("md", "## The gap to the ceiling at each size (mean over seeds)"),
    ("code", """
gap = table.assign(gap=table.ceiling - table.test_score).pivot_table(
    index=["target", "n_train"], columns="learner", values="gap")
gap.round(3)
"""),
]

NOTEBOOKS = {"01_cohort.ipynb": COHORT, "02_train.ipynb": TRAIN, "03_sweep.ipynb": SWEEP,
             "04_evaluate.ipynb": EVALUATE, "05_domain_effects.ipynb": DOMAIN_EFFECTS, "06_figures.ipynb": FIGURES,
             "07_scaling.ipynb": SCALING}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbf.write(notebook(cells, name), ROOT / "notebooks" / name)
        print("wrote", name)
