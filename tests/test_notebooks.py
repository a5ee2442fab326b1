"""Notebooks: committed clean, each with a parameters cell, and really executed by papermill."""

import json

import nbformat
import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:2] == ["01_cohort.py", "02_train.py"]


def _read(path):
    import jupytext

    return jupytext.read(path, fmt="py:percent")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_has_one_parameters_cell_reading_the_main_jobs_defaults(path):
    nb = _read(path)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged `parameters` (papermill's), found {len(tagged)}"
    assert "from legibility import defaults" in tagged[0].source, (
        f"{path.name}: its parameters cell reads the main job's defaults from legibility/defaults.py")


def test_no_notebook_is_committed_as_ipynb():
    """The scripts are the notebooks; an ``.ipynb`` beside them is made (and ignored), never committed."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode:
        pytest.skip("not a git checkout")
    tracked = listed.stdout.split()
    assert tracked, "git lists no notebook"
    assert [f for f in tracked if f.endswith(".ipynb")] == []


def test_saving_a_notebook_as_jupyterlab_does_changes_nothing(tmp_path):
    """JupyterLab saves a notebook through jupytext with the repository's jupytext.toml: with
    outputs, execution counts, a kernelspec and cell metadata added by a run, the script written
    back is byte for byte the committed one."""
    import shutil
    import subprocess
    import sys

    import nbformat

    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    for path in NOTEBOOKS:
        nb = _read(path)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        for i, cell in enumerate(nb.cells):
            cell.metadata["trusted"] = True
            cell.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
            if cell.cell_type == "code":
                cell.execution_count = i
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        nbformat.write(nb, tmp_path / f"{path.stem}.ipynb")
    ran = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "py:percent", *ran], cwd=tmp_path,
                   check=True, capture_output=True)
    for path in NOTEBOOKS:
        assert (tmp_path / path.name).read_text() == path.read_text(), (
            f"{path.name} is not as jupytext writes it from JupyterLab: run "
            f"`jupytext --to py:percent notebooks/{path.name} -o notebooks/{path.name}`")


def test_defaults_of_the_notebooks_are_the_main_jobs(tmp_path):
    """Run interactively with its defaults, notebook 02 trains (or reads back) the main job's own
    age model: the same epochs, patience, folder and cohort as `legibility paper`."""
    import papermill as pm

    from legibility import defaults
    from legibility.cli import build_parser
    from legibility.pipeline import as_notebook

    declared = pm.inspect_notebook(str(as_notebook(ROOT / "notebooks" / "02_train.py", tmp_path)))
    assert {k: declared[k]["default"] for k in ("epochs", "patience", "outpath", "data_path")} == {
        "epochs": "defaults.EPOCHS", "patience": "defaults.PATIENCE", "outpath": "defaults.MODELS",
        "data_path": "defaults.COHORT"}
    paper = build_parser().parse_args(["paper"])
    train = build_parser().parse_args(["train"])
    assert (paper.epochs, paper.patience, paper.n) == (defaults.EPOCHS, defaults.PATIENCE, defaults.N_PARTICIPANTS)
    assert (train.epochs, train.patience, train.outpath) == (defaults.EPOCHS, defaults.PATIENCE, defaults.MODELS)


def test_a_script_becomes_the_notebook_papermill_runs(tmp_path):
    from legibility.pipeline import as_notebook

    nb = nbformat.read(as_notebook(ROOT / "notebooks" / "05_domain_effects.py", tmp_path), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")


def test_notebook_01_runs_at_tiny_size_from_the_notebooks_folder_and_writes_nothing_there(tmp_path):
    """As Jupyter runs it (working folder notebooks/): its relative paths resolve against the
    root (here root_dir, so the test stays out of the repository), never under notebooks/."""
    import papermill as pm

    from legibility.pipeline import as_notebook

    before = sorted((ROOT / "notebooks").rglob("*"))
    pm.execute_notebook(
        str(as_notebook(ROOT / "notebooks" / "01_cohort.py", tmp_path / "src")), str(tmp_path / "01.ipynb"),
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

    from legibility.pipeline import as_notebook

    out = tmp_path / "02.ipynb"
    pm.execute_notebook(
        str(as_notebook(ROOT / "notebooks" / "02_train.py", tmp_path / "src")), str(out),
        parameters={"data_path": str(tiny_cohort), "outpath": str(tmp_path / "models"), "target": "sex",
                    "inputs": "t1 flair", "epochs": 2, "batch_size": 8},
        progress_bar=False, cwd=str(ROOT))
    assert (tmp_path / "models" / "sex__t1-flair" / "metrics.csv").exists()
    text = out.read_text()
    assert "linear peer" in text
    from legibility.evaluation import ceiling

    # the worked example's table shows the ground-truth ceiling of its input set (a number, not a word
    # that the notebook's own markdown already holds)
    value = ceiling(tiny_cohort, "Sex (Male)", "FLAIR + T1")[0]
    assert 0.5 < value <= 1
    assert str(value)[:5] in text


def test_paper_pipeline_runs_every_notebook_in_order(tiny_paper):
    import pandas as pd

    from legibility.pipeline import summary

    params, tmp_path, done = tiny_paper
    sweep_dir, figs, analysis = tmp_path / "sweep", tmp_path / "figs", tmp_path / "analysis"
    assert [p.name for p in done] == ["01_cohort.ipynb", "02_train.ipynb", "03_sweep.ipynb", "04_evaluate.ipynb",
                                      "05_domain_effects.ipynb", "06_figures.ipynb", "07_scaling.ipynb",
                                      "08_truth.ipynb"]
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
    truth = pd.read_csv(analysis / "truth" / "truth_effects.csv")  # notebook 08: the ceilings, peers, deep sweep
    assert {"ceiling", "linear peer", "deep"} <= set(truth.source)
    assert (figs / "truth_effects.png").exists()
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


def _notebook(folder, name, *cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('figures_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *[nbformat.v4.new_code_cell(c) for c in cells]]
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / name)


def test_a_failed_run_leaves_the_last_good_runs_notebooks_and_figures(tmp_path):
    from legibility.pipeline import run_paper

    write = "from pathlib import Path; Path(figures_dir, 'fig.png').write_text('{}')"
    good, bad = tmp_path / "good", tmp_path / "bad"
    _notebook(good, "01_cohort.ipynb", write.format("good"))
    _notebook(bad, "01_cohort.ipynb", write.format("bad"), "raise ValueError('boom')")
    figs, results = tmp_path / "figs", tmp_path / "r"
    figs.mkdir()
    run_paper({"figures_dir": str(figs)}, notebooks_dir=good, results_dir=results, progress=False)
    assert (figs / "fig.png").read_text() == "good"
    executed = (results / "notebooks" / "01_cohort.ipynb").read_text()
    with pytest.raises(RuntimeError, match="the notebooks and figures of the last good run are untouched"):
        run_paper({"figures_dir": str(figs)}, notebooks_dir=bad, results_dir=results, progress=False)
    assert (figs / "fig.png").read_text() == "good"
    assert (results / "notebooks" / "01_cohort.ipynb").read_text() == executed
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".figs")) == []


def test_paper_resolves_its_inpath_against_the_working_directory(tmp_path, monkeypatch, capsys):
    import legibility.pipeline as pipeline
    from legibility.cli import main

    seen = {}
    monkeypatch.setattr(pipeline, "run_paper", lambda params: seen.update(params))
    monkeypatch.setattr(pipeline, "summary", lambda params: "")
    (tmp_path / "byod").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["paper", "--inpath", "byod"]) == 0
    assert seen["data_path"] == str(tmp_path / "byod")
    assert main(["paper", "--inpath", "absent"]) == 2
    assert f"--inpath absent does not exist (resolved against {tmp_path}" in capsys.readouterr().err
