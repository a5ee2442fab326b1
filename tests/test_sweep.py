"""The grid runner: grids, gathering, resuming, failures, and Ray beside the local executor."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, fail_training_of

from legibility.errors import LegibilityError
from legibility.study import METRIC_COLUMNS, grid
from legibility.sweep import QUICK_TARGETS, SweepConfig, load_grid, quick_grid, sweep

TINY = SweepConfig(epochs=1, patience=1, batch_size=8, side=32, torch_threads=1)
GRID_ROWS = [("Sex (Male)", "FLAIR + T1"), ("Hypertension", "Non-imaging data (C + P + S)"),
             ("Age", "rsfMRI Connectivity")]


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.csv"
    pd.DataFrame(GRID_ROWS, columns=["Target", "Inputs"]).to_csv(path, index=False)
    return path


def test_quick_grid_is_a_documented_subset_covering_every_domain():
    jobs = quick_grid()
    full = {(t.key, s) for t, s in grid()}
    assert len(jobs) == 29
    assert all((t.key, s) in full for t, s in jobs)
    assert {t.key for t, _ in jobs} == set(QUICK_TARGETS)
    per_domain = {}
    for t, _ in jobs:
        per_domain.setdefault(t.domain, set()).add(t.key)
    assert {d: len(k) for d, k in per_domain.items()} == {"constitutional": 2, "disease": 2, "serology": 2,
                                                          "psychology": 2}
    worry = [s for t, s in jobs if t.key == "worry"]
    assert [sorted(s.imaging) for s in worry] == [[], [], [], ["connectivity"], ["flair", "t1"]]
    assert [sorted(s.blocks) for s in worry][:3] == [["constitutional"], ["constitutional", "disease"],
                                                     ["constitutional", "serology"]]
    assert all(s.imaging and not s.blocks for t, s in jobs if t.domain == "constitutional")
    assert sum("t1" in s.imaging for _, s in jobs) == 3  # the CNNs: sex, age, worry


def test_grid_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame([("Age", "T1 + FLAIR"), ("Age", "Tea + FLAIR")], columns=["Target", "Inputs"]).to_csv(bad, index=False)
    with pytest.raises(LegibilityError, match=r"line 3.*Tea"):
        load_grid(bad)
    with pytest.raises(LegibilityError, match="neither 'paper', 'quick'"):
        load_grid(tmp_path / "absent.csv")
    assert len(load_grid("paper")) == 700


def test_sweep_gathers_the_published_schema_and_skips_finished_models(tiny_cohort, tmp_path, grid_file):
    out = tmp_path / "sweep"
    test = sweep(tiny_cohort, out, grid_file, config=TINY, progress=False)
    assert list(test.columns[: len(METRIC_COLUMNS)]) == list(METRIC_COLUMNS)
    assert list(zip(test.Target, test.Inputs, strict=True)) == GRID_ROWS
    assert (test.Mode == "Test").all()
    assert {"n", "ci_low", "ci_high", "seed", "linear_r2"} <= set(test.columns)
    on_disk = pd.read_csv(out / "metrics_comparison_test.csv")
    assert len(on_disk) == 3
    assert len(pd.read_csv(out / "metrics_all.csv")) == 6  # validation and test rows
    stamps = {p.parent.name: p.read_text() for p in out.glob("*/done.json")}
    again = sweep(tiny_cohort, out, grid_file, config=TINY, progress=False)
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"skipped"}
    assert {p.parent.name: p.read_text() for p in out.glob("*/done.json")} == stamps
    pd.testing.assert_frame_equal(again, test)


def test_a_failing_model_is_recorded_and_the_rest_go_on(tiny_cohort, tmp_path, grid_file, monkeypatch):
    fail_training_of(monkeypatch, "hypertension")
    out = tmp_path / "sweep"
    test = sweep(tiny_cohort, out, grid_file, config=TINY, progress=False)
    assert list(test.Target) == ["Sex (Male)", "Age"]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures.Target) == ["Hypertension"]
    assert "simulated out-of-memory" in failures.error[0]
    assert "RuntimeError" in (out / "hypertension__meta-c-p-s" / "error.txt").read_text()


def test_interrupted_sweep_resumes_without_retraining(tiny_cohort, tmp_path, grid_file):
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "legibility.cli", "sweep", "--inpath", str(tiny_cohort), "--outpath", str(out),
           "--grid", str(grid_file), "--epochs", "3", "--patience", "3", "--batch_size", "8", "--torch_threads", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    first = out / "sex__t1-flair" / "done.json"
    deadline = time.time() + 300
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to tidy up
    proc.wait()
    assert first.exists()
    stamp = first.read_text()
    finished = sorted(p.parent.name for p in out.glob("*/done.json"))
    assert len(finished) < 3, "the sweep ended before it could be interrupted"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    log = pd.read_csv(out / "sweep_log.csv").set_index("model")
    assert log.loc["sex__t1-flair", "status"] == "skipped"
    assert first.read_text() == stamp
    assert len(pd.read_csv(out / "metrics_comparison_test.csv")) == 3


def test_ray_gives_the_same_models_and_metrics_as_local(tiny_cohort, tmp_path, grid_file):
    pytest.importorskip("ray")
    local = sweep(tiny_cohort, tmp_path / "local", grid_file, config=TINY, progress=False)
    on_ray = sweep(tiny_cohort, tmp_path / "ray", grid_file, executor="ray", config=TINY, progress=False)
    assert list(on_ray.columns) == list(local.columns)
    assert list(zip(on_ray.Target, on_ray.Inputs, strict=True)) == list(zip(local.Target, local.Inputs, strict=True))
    timing = {"Training time (mins)"}
    numeric = [c for c in local.columns if c not in timing and pd.api.types.is_numeric_dtype(local[c])]
    np.testing.assert_allclose(on_ray[numeric].to_numpy(float), local[numeric].to_numpy(float), atol=1e-6)
    text = [c for c in local.columns if c not in numeric and c not in timing]
    assert (on_ray[text].astype(str).to_numpy() == local[text].astype(str).to_numpy()).all()
    info = json.loads((tmp_path / "ray" / "sweep.json").read_text())
    assert info["executor"] == "ray"
