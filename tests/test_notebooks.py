"""Notebooks: committed clean, each with a parameters cell, and really executed by papermill."""

import json

import nbformat
import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:2] == ["01_cohort.ipynb", "02_train.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_parameters(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


def test_committed_notebooks_are_what_their_source_generates():
    """``scripts/make_notebooks.py`` is the notebooks' source: a notebook edited by hand (or a
    source edited without regenerating) fails here. Fix: edit the script, then run
    ``python scripts/make_notebooks.py``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    assert sorted(source.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for name, cells in source.NOTEBOOKS.items():
        want = source.notebook(cells, name)
        have = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [(c.id, c.cell_type, c.source, c.metadata.get("tags", [])) for c in have.cells] == \
            [(c.id, c.cell_type, c.source, c.metadata.get("tags", [])) for c in want.cells], name


def test_notebook_01_runs_at_tiny_size_from_the_notebooks_folder_and_writes_nothing_there(tmp_path):
    """As Jupyter runs it (working folder notebooks/): its relative paths resolve against the
    root (here root_dir, so the test stays out of the repository), never under notebooks/."""
    import papermill as pm

    before = sorted((ROOT / "notebooks").rglob("*"))
    pm.execute_notebook(
        str(ROOT / "notebooks" / "01_cohort.ipynb"), str(tmp_path / "01.ipynb"),
        parameters={"synthetic_dir": "data", "n_participants": 20, "side": 32, "ceiling_n": 1000,
                    "figures_dir": "figs", "root_dir": str(tmp_path)},
        progress_bar=False, cwd=str(ROOT / "notebooks"))
    assert sorted((ROOT / "notebooks").rglob("*")) == before
    assert (tmp_path / "data" / "cohort.json").exists()
    figs = tmp_path / "figs"
    names = {p.name for p in figs.iterdir()}
    for stem in ("cohort_distributions", "cohort_associations", "cohort_mean_images",
                 "cohort_mean_connectivity"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    executed = json.loads((tmp_path / "01.ipynb").read_text())
    report = "".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", []))
    assert "20 participants" in report
    assert "IProgress not found" not in (tmp_path / "01.ipynb").read_text()  # progress bars are widgets


def test_notebook_02_trains_one_model_at_tiny_size(tiny_cohort, tmp_path):
    import papermill as pm

    out = tmp_path / "02.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "02_train.ipynb"), str(out),
        parameters={"data_path": str(tiny_cohort), "outpath": str(tmp_path / "models"), "target": "sex",
                    "inputs": "t1 flair", "epochs": 2, "batch_size": 8},
        progress_bar=False, cwd=str(ROOT))
    assert (tmp_path / "models" / "sex__t1-flair" / "metrics.csv").exists()
    text = out.read_text()
    assert "linear peer" in text
    from legibility.evaluation import ceiling_of

    # the worked example's table shows the ground-truth ceiling of its input set (a number, not a word
    # that the notebook's own markdown already holds)
    value = ceiling_of(tiny_cohort, "Sex (Male)", "FLAIR + T1", "Balanced accuracy")
    assert 0.5 < value <= 1
    assert str(value)[:5] in text


def test_paper_pipeline_runs_every_notebook_in_order(tmp_path):
    import pandas as pd

    from legibility.pipeline import run_paper, summary

    grid = tmp_path / "grid.csv"
    pd.DataFrame([("Sex (Male)", "FLAIR + T1"), ("Age", "rsfMRI Connectivity"),
                  ("Worry", "Non-imaging data (C + D + S)"), ("Worry", "FLAIR + T1 + Non-imaging data (C + D + S)")],
                 columns=["Target", "Inputs"]).to_csv(grid, index=False)
    sweep_dir, figs, analysis = tmp_path / "sweep", tmp_path / "figs", tmp_path / "analysis"
    params = {"synthetic_dir": str(tmp_path / "data"), "n_participants": 24, "side": 32, "ceiling_n": 1000,
              "epochs": 1, "patience": 1, "batch_size": 8, "grid": str(grid), "outpath": str(sweep_dir),
              "sweep_dir": str(sweep_dir), "target": "sex", "figures_dir": str(figs), "out_dir": str(analysis),
              "scaling_dir": str(tmp_path / "scaling"), "scaling_targets": "age", "scaling_sizes": "0.5 1",
              "scaling_seeds": 1, "scaling_max_epochs": 1}
    done = run_paper(params, results_dir=tmp_path / "results", progress=False)
    assert [p.name for p in done] == ["01_cohort.ipynb", "02_train.ipynb", "03_sweep.ipynb", "04_evaluate.ipynb",
                                      "05_domain_effects.ipynb", "06_figures.ipynb", "07_scaling.ipynb"]
    metrics = pd.read_csv(sweep_dir / "metrics_comparison_test.csv")
    assert len(metrics) == 4
    log = pd.read_csv(sweep_dir / "sweep_log.csv").set_index("model")
    assert log.loc["sex__t1-flair", "status"] == "skipped"  # notebook 02 trained it; the sweep reused it
    scaling = pd.read_csv(tmp_path / "scaling" / "scaling.csv")
    assert len(scaling) == 4  # half and all of the training set, deep and linear
    for stem in ("best_vs_ceiling", "domain_effects", "performance_grid", "training_efficiency", "networks"):
        assert (figs / f"{stem}.png").exists(), stem
    effects = pd.read_csv(analysis / "domain_effects.csv")
    assert set(effects.domain) == {"Constitutional", "Psychology", "Disease", "Serology"}
    assert (analysis / "dashboard.html").exists()
    text = summary(params, tmp_path / "results")
    assert "Sex (Male)" in text
    assert "wall time" in text


def test_a_failing_notebook_stops_the_run_and_names_the_cell(tmp_path):
    import nbformat

    from legibility.pipeline import run_paper

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('boom')")]
    nbformat.write(nb, nbs / "01_fail.ipynb")
    nbformat.write(nb, nbs / "02_never.ipynb")
    with pytest.raises(RuntimeError, match="01_fail.ipynb failed in cell 2: ValueError: boom"):
        run_paper({}, notebooks_dir=nbs, results_dir=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "notebooks" / "02_never.ipynb").exists()


def test_relative_paths_resolve_against_the_repository_root(tmp_path):
    from legibility.paths import PROJECT_ROOT, in_project

    assert in_project("results/sweep") == str(PROJECT_ROOT / "results" / "sweep")
    assert in_project("figs", tmp_path) == str(tmp_path / "figs")
    assert in_project(str(tmp_path)) == str(tmp_path)
    assert in_project("") == ""  # "no path" stays so (notebook 01: generate a cohort)
