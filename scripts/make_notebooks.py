"""Write the notebooks (without outputs) from the cell sources below.

The notebooks are the committed artefact; this script is how we keep them tidy. Each notebook
has a ``parameters`` cell (papermill) and cells that each call one package function.
"""

from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parent.parent


def notebook(cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in cells:
        if kind == "md":
            nb.cells.append(nbf.v4.new_markdown_cell(src.strip()))
        else:
            cell = nbf.v4.new_code_cell(src.strip())
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
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
"""),
    ("code", """
from pathlib import Path

from legibility.cohort.writer import generate_cohort
from legibility.data.cache import build_cache, mean_connectivity, mean_volumes
from legibility.data.layout import load_dataset
from legibility.figures import save_figure
from legibility.figures import cohort as cohort_figures
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

NOTEBOOKS = {"01_cohort.ipynb": COHORT}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nbf.write(notebook(cells), ROOT / "notebooks" / name)
        print("wrote", name)
