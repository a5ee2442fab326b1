"""The data-scaling study on a tiny cohort: nested subsets, both learners, resumable, its figure,
its command and notebook 07."""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from legibility.errors import LegibilityError
from legibility.scaling import COLUMNS, ScalingConfig, epochs_for, nested_subsets, scaling_study

TINY = {"sizes": (40, 80), "seeds": 1, "samples": 1, "min_epochs": 1, "max_epochs": 1, "patience": 1}


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory):
    """110 participants at 32^3: 88 for training, enough for sizes 40 and 80."""
    from legibility.cohort.writer import generate_cohort

    out = tmp_path_factory.mktemp("scaling") / "data"
    generate_cohort(out, n=110, side=32, seed=5, regions=32, nodes=20, ceiling_n=1000, progress=False, workers=2)
    return out


def test_subsets_are_nested_seeded_and_bounded():
    rows = np.arange(100, 300)
    a = nested_subsets(rows, [40, 80, 160], seed=0)
    assert set(a[40]) < set(a[80]) < set(a[160]) <= set(rows)
    assert [len(v) for v in a.values()] == [40, 80, 160]
    assert np.array_equal(a[80], nested_subsets(rows, [80], seed=0)[80])
    assert not np.array_equal(a[80], nested_subsets(rows, [80], seed=1)[80])
    with pytest.raises(LegibilityError, match="exceed the 200 training participants"):
        nested_subsets(rows, [80, 400], seed=0)


def test_epochs_budget_a_fixed_number_of_samples():
    cfg = ScalingConfig(samples=16_000, min_epochs=4, max_epochs=40)
    assert [epochs_for(n, cfg) for n in (250, 800, 1000, 4000, 8000)] == [40, 20, 16, 4, 4]


@pytest.mark.slow
def test_study_trains_both_learners_on_nested_subsets_and_resumes(small_cohort, tmp_path, monkeypatch):
    import legibility.scaling as scaling
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.study import resolve_inputs
    from legibility.train import TrainConfig, model_data

    out = tmp_path / "study"
    table = scaling_study(small_cohort, out, ScalingConfig(targets=("age",), **TINY))
    assert list(table.columns) == COLUMNS
    assert len(table) == 4  # 2 sizes x 1 seed x (deep, linear)
    assert set(table.learner) == {"deep", "linear"}
    assert set(table.n_train) == {40, 80}
    assert (table.ceiling > 0.5).all()  # age from T1 + FLAIR carries most of age
    assert table[["val_score", "test_score", "ci_low", "ci_high"]].notna().all().all()
    assert (table.ci_low <= table.ci_high).all()
    assert pd.read_csv(out / "scaling.csv").shape == (4, len(COLUMNS))
    # the model really trained on 40 participants: the subset cache leaves 40 in its training split
    cache = build_cache(load_dataset(small_cohort), 32)
    train = np.flatnonzero((cache.table["split"] == "train").to_numpy())
    keep = nested_subsets(train, [40, 80], seed=0)[40]
    tgt, inputs = resolve_inputs("age", ("t1", "flair"))
    data = model_data(scaling.subset_cache(cache, keep), TrainConfig(target="age", inputs=("t1",)), tgt, inputs)
    assert np.array_equal(data.rows["train"], keep)
    assert len(data.rows["val"]) == (cache.table["split"] == "val").sum()
    # resumed: finished rows are not redone, a new size is
    calls = []
    real = scaling._run
    monkeypatch.setattr(scaling, "_run", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    again = scaling_study(small_cohort, out, ScalingConfig(targets=("age",), **{**TINY, "sizes": (20, 40, 80)}))
    assert calls == [20]
    assert len(again) == 6


def test_scaling_command_writes_table_and_figure(small_cohort, tmp_path):
    from legibility.cli import main

    out = tmp_path / "cli"
    assert main(["scaling", "--inpath", str(small_cohort), "--out", str(out), "--target", "sex",
                 "--sizes", "40", "--seeds", "1", "--samples", "1", "--max_epochs", "1"]) == 0
    table = pd.read_csv(out / "scaling.csv")
    assert list(table.learner) == ["deep", "linear"]
    assert table.metric.eq("Balanced accuracy").all()
    assert (out / "scaling.png").stat().st_size > 10_000


def test_scaling_with_ones_own_network(small_cohort, tmp_path):
    """``--model`` makes the user's network the deep learner of the study; its folders record it."""
    import json

    from legibility.cli import main

    out = tmp_path / "own"
    assert main(["scaling", "--inpath", str(small_cohort), "--out", str(out), "--target", "age", "--sizes", "40",
                 "--seeds", "1", "--samples", "1", "--max_epochs", "1", "--no_figure",
                 "--model", f"{ROOT / 'examples' / 'sfcn.py'}:SFCN",
                 "--network_args", '{"channels": [4, 8, 8], "dropout": 0.0}']) == 0
    assert list(pd.read_csv(out / "scaling.csv").learner) == ["deep", "linear"]
    done = json.loads(next((out / "runs").glob("*/*/done.json")).read_text())
    assert done["settings"]["network"]["user_network"].endswith("sfcn.py:SFCN")


def test_plot_scaling_log_x_one_panel_per_target():
    from legibility.figures.scaling import plot_scaling

    rows = [{"target": t, "inputs": "FLAIR + T1", "n_train": n, "seed": s, "learner": lr, "val_score": 0.5,
             "test_score": 0.5 + 0.1 * np.log10(n) + (0.05 if lr == "linear" else 0), "ci_low": 0.4, "ci_high": 0.9,
             "ceiling": 0.9, "minutes": 1.0, "metric": "r2", "epochs": 1, "ceiling_low": 0.88, "ceiling_high": 0.92,
             "linear_asymptote": 0.8 if t == "Age" else np.nan}
            for t in ("Age", "Weight") for n in (100, 1000) for s in (0, 1) for lr in ("deep", "linear")]
    fig = plot_scaling(pd.DataFrame(rows))
    assert len(fig.axes) == 2
    assert all(a.get_xscale() == "log" for a in fig.axes)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    assert np.allclose(lines["linear peer"].get_ydata(), [0.75, 0.85])
    assert np.allclose(lines["linear asymptote 0.800"].get_ydata(), 0.8)  # the anatomical world's: drawn
    assert not any(ln.get_label().startswith("linear asymptote") for ln in fig.axes[1].get_lines())  # none: not


@pytest.mark.slow
def test_notebook_07_runs_at_tiny_size(small_cohort, tmp_path):
    import papermill as pm

    from legibility.pipeline import as_notebook

    figs = tmp_path / "figs"
    pm.execute_notebook(
        str(as_notebook(ROOT / "notebooks" / "07_scaling.py", tmp_path / "src")), str(tmp_path / "07.ipynb"),
        parameters={"data_path": str(small_cohort), "scaling_dir": str(tmp_path / "scaling"),
                    "scaling_targets": "age", "scaling_sizes": "40 80", "scaling_seeds": 1, "scaling_samples": 1,
                    "scaling_max_epochs": 1, "figures_dir": str(figs)},
        progress_bar=False, cwd=str(ROOT))
    assert len(pd.read_csv(tmp_path / "scaling" / "scaling.csv")) == 4
    assert (figs / "scaling.png").exists()
