"""Notebooks: committed clean, each with a parameters cell, and really executed by papermill."""

import json
from pathlib import Path

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
    assert len(tagged) == 1, f"{path.name}: one cell tagged `parameters` (papermill's), found {len(tagged)}"
    clear = f"clear them: `jupyter nbconvert --clear-output --inplace notebooks/{path.name}`"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} is committed with outputs: {clear}"
            assert cell.execution_count is None, f"{path.name} is committed with execution counts: {clear}"


def _cells(path) -> list[tuple]:
    """What a notebook holds, read by jupytext from either side of a pair: each cell's type,
    source and tags."""
    import jupytext

    return [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in jupytext.read(path).cells]


def _out_of_sync(notebook) -> str:
    """Why ``NN_name.ipynb`` and its paired ``NN_name.py`` disagree, with the fix; "" when they agree."""
    script = notebook.with_suffix(".py")
    fix = f"run `jupytext --sync notebooks/{script.name}` (it updates the older of the two from the newer)"
    if not script.exists():
        return f"{notebook.name} has no paired {script.name}: {fix}"
    have, want = _cells(notebook), _cells(script)
    if have == want:
        return ""
    first = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b), min(len(have), len(want)))
    return (f"{notebook.name} and {script.name} differ (cell {first + 1}; {len(have)} cells against {len(want)}): "
            f"{fix}")


def test_notebooks_are_paired_by_jupytext():
    """``jupytext.toml`` pairs each notebook with a percent-format script."""
    import tomllib

    assert tomllib.loads((ROOT / "jupytext.toml").read_text())["formats"] == "ipynb,py:percent"
    scripts = sorted((ROOT / "notebooks").glob("*.py"))
    assert [p.stem for p in scripts] == [p.stem for p in NOTEBOOKS], (
        "every notebooks/NN_name.py needs its NN_name.ipynb: run `jupytext --sync notebooks/NN_name.py`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_script_hold_the_same_cells(path):
    """The ``.py`` is what people edit and review, the ``.ipynb`` what papermill runs: a change
    saved to one side only (from Jupyter without jupytext, or in an editor) fails here."""
    assert _out_of_sync(path) == ""


def test_a_pair_out_of_sync_is_caught_and_the_fix_named(tmp_path):
    import shutil

    notebook = Path(shutil.copy(ROOT / "notebooks" / "05_domain_effects.ipynb", tmp_path))
    script = tmp_path / "05_domain_effects.py"
    assert "has no paired 05_domain_effects.py" in _out_of_sync(notebook)
    source = (ROOT / "notebooks" / script.name).read_text()
    script.write_text(source)
    assert _out_of_sync(notebook) == ""
    script.write_text(source.replace("effects.round(4)", "effects.round(3)"))
    assert "jupytext --sync notebooks/05_domain_effects.py" in _out_of_sync(notebook)
    script.write_text(source.replace('# %% tags=["parameters"]', "# %%"))  # the parameters tag lost
    assert "cell 2;" in _out_of_sync(notebook)


def test_syncing_an_unchanged_pair_changes_nothing_on_disk(tmp_path):
    """The committed ``.ipynb`` is byte for byte what ``jupytext --sync`` writes (cell ids kept)."""
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    (tmp_path / "notebooks").mkdir()
    files = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.py"))
    for f in files:
        shutil.copy2(f, tmp_path / "notebooks")
    scripts = [str(p.relative_to(tmp_path)) for p in sorted((tmp_path / "notebooks").glob("*.py"))]
    subprocess.run([sys.executable, "-m", "jupytext", "--sync", *scripts], cwd=tmp_path, check=True,
                   capture_output=True)
    for f in files:
        assert (tmp_path / "notebooks" / f.name).read_bytes() == f.read_bytes(), (
            f"{f.name} is not as jupytext writes it: run `jupytext --sync notebooks/{f.stem}.py`")


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
