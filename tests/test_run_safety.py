"""Finished models are never overwritten or reused silently; Ctrl-C, progress and TensorBoard."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT

from legibility.cli import main
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.data.model_data import ModelData
from legibility.errors import LegibilityError
from legibility.sweep import SweepConfig, sweep
from legibility.train import TrainConfig, train_model


@pytest.fixture(scope="module")
def cache(tiny_cohort):
    return build_cache(load_dataset(tiny_cohort), 32, progress=False)


def cfg(**kw):  # a metadata model: an epoch takes milliseconds
    base = dict(target="hb", inputs=("metadata",), epochs=2, batch_size=8, progress=False, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def progress_of(folder):
    return pd.read_csv(folder / "training_progress.csv")


def test_a_finished_model_is_refused_naming_the_settings_that_differ(cache, tmp_path):
    train_model(cache, cfg(), tmp_path)
    folder = tmp_path / "hb__meta-c-d-p"
    stamp = (folder / "done.json").read_text()
    assert json.loads(stamp)["settings"]["epochs"] == 2
    with pytest.raises(LegibilityError, match=r"other settings: epochs 2 \(now 3\), seed 1 \(now 4\)"):
        train_model(cache, cfg(epochs=3, seed=4), tmp_path)
    with pytest.raises(LegibilityError, match="with the same settings.*--overwrite"):
        train_model(cache, cfg(), tmp_path)
    assert (folder / "done.json").read_text() == stamp  # untouched
    train_model(cache, cfg(epochs=3, seed=4), tmp_path, overwrite=True)
    assert progress_of(folder).epoch.tolist() == [0, 1, 2]
    assert json.loads((folder / "done.json").read_text())["settings"]["seed"] == 4
    again = train_model(cache, cfg(epochs=3, seed=4), tmp_path, restore=True)  # read back: no refusal
    assert progress_of(folder).epoch.tolist() == [0, 1, 2]
    assert again["Target"] == "Hb"


def test_a_model_of_an_earlier_preset_is_not_taken_for_one_of_todays(cache, tmp_path, monkeypatch):
    """done.json records the network (the preset with its overrides): when the preset changes, a
    finished model is refused, naming the change, as a sweep would meet it after an update."""
    from dataclasses import replace

    import legibility.model as model

    train_model(cache, cfg(), tmp_path)
    done = json.loads((tmp_path / "hb__meta-c-d-p" / "done.json").read_text())
    assert done["settings"]["network"]["linear_path_start"] == model.PRESETS["cpu"].linear_path_start
    assert "in_channels" not in done["settings"]["network"]  # what the data decide is not a setting
    monkeypatch.setitem(model.PRESETS, "cpu", replace(model.PRESETS["cpu"], head_hidden=(32,)))
    with pytest.raises(LegibilityError, match=r"network head_hidden \[64, 64\] \(now \[32\]\)"):
        train_model(cache, cfg(), tmp_path)
    monkeypatch.undo()
    stamp = tmp_path / "hb__meta-c-d-p" / "done.json"
    del done["settings"]["network"]  # as an earlier version wrote it
    stamp.write_text(json.dumps(done))
    with pytest.raises(LegibilityError, match="network is not recorded"):
        train_model(cache, cfg(), tmp_path)


def test_the_train_command_refuses_and_overwrites(tiny_cohort, tmp_path, capsys):
    args = ["train", "--inpath", str(tiny_cohort), "--outpath", str(tmp_path), "--target", "hb", "--inputs",
            "metadata", "--epochs", "1", "--batch_size", "8"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args[:-4], "--epochs", "2", "--batch_size", "8"]) == 2
    err = capsys.readouterr().err
    assert "already holds a finished model, trained with other settings: epochs 1 (now 2)" in err
    assert main([*args[:-4], "--epochs", "2", "--batch_size", "8", "--overwrite"]) == 0
    assert progress_of(tmp_path / "hb__meta-c-d-p").epoch.tolist() == [0, 1]


def test_a_sweep_does_not_reuse_models_trained_with_other_settings(tiny_cohort, tmp_path):
    grid = tmp_path / "grid.csv"
    pd.DataFrame([("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)")],
                 columns=["Target", "Inputs"]).to_csv(grid, index=False)
    out = tmp_path / "sweep"
    one = SweepConfig(epochs=1, patience=1, batch_size=8, torch_threads=1)
    sweep(tiny_cohort, out, grid, config=one, progress=False)
    stamps = {p.parent.name: p.read_text() for p in out.glob("*/done.json")}
    assert len(stamps) == 2
    two = SweepConfig(epochs=2, patience=2, batch_size=8, torch_threads=1)
    with pytest.raises(LegibilityError, match=r"2 finished model\(s\).*hb__meta-c-d-p: epochs 1 \(now 2\), "
                                              r"patience 1 \(now 2\).*--overwrite"):
        sweep(tiny_cohort, out, grid, config=two, progress=False)
    assert {p.parent.name: p.read_text() for p in out.glob("*/done.json")} == stamps  # nothing retrained
    sweep(tiny_cohort, out, grid, config=one, progress=False)  # the same settings: read back
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"skipped"}
    sweep(tiny_cohort, out, grid, config=two, progress=False, overwrite=True)
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"trained"}
    assert progress_of(out / "worry__meta-c").epoch.tolist() == [0, 1]


def test_training_progress_is_written_after_every_epoch(cache, tmp_path, monkeypatch):

    real = ModelData.batch
    validations = {"n": 0}

    def dying(self, rows, **kw):
        if "rng" not in kw:  # a validation batch: one per epoch here
            validations["n"] += 1
        elif validations["n"] == 2:  # training in the third epoch
            raise KeyboardInterrupt
        return real(self, rows, **kw)

    monkeypatch.setattr(ModelData, "batch", dying)
    with pytest.raises(KeyboardInterrupt):
        train_model(cache, cfg(epochs=5), tmp_path)
    folder = tmp_path / "hb__meta-c-d-p"
    assert progress_of(folder).epoch.tolist() == [0, 1]
    assert not list(folder.glob("*.tmp*"))  # written atomically
    assert not (folder / "done.json").exists()


@pytest.mark.slow
def test_ctrl_c_says_where_the_checkpoint_is_and_the_command_resumes(tiny_cohort, tmp_path):
    out = tmp_path / "models"
    args = ["train", "--inpath", str(tiny_cohort), "--outpath", str(out), "--target", "hb", "--inputs", "metadata",
            "--epochs", "80", "--patience", "80", "--batch_size", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "legibility.cli", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            # as in a terminal, even when this test runs where SIGINT is ignored (a background job)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    progress = out / "hb__meta-c-d-p" / "training_progress.csv"
    deadline = time.time() + 120
    while not progress.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    lines = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert len(lines) == 1, err
    done = len(progress_of(out / "hb__meta-c-d-p"))
    assert 1 <= done < 80, "the run ended before it could be interrupted"
    assert f"the last checkpoint is {out / 'hb__meta-c-d-p' / 'last.pt'} (epoch {done - 1})" in lines[0]
    command = lines[0].split("resume with: ")[1]
    assert shlex.split(command) == ["legibility", *args, "--restore"]
    resumed = subprocess.run([sys.executable, "-m", "legibility.cli", *shlex.split(command)[1:]], cwd=tmp_path,
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    hist = progress_of(out / "hb__meta-c-d-p")
    assert hist.epoch.tolist() == list(range(80))
    assert hist.pid.nunique() == 2  # the epochs before Ctrl-C were kept, not trained again


def test_tensorboard_logs_are_written(cache, tmp_path):
    train_model(cache, cfg(epochs=2, tensorboard=True), tmp_path)
    events = list((tmp_path / "hb__meta-c-d-p" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events


def two_model_grid(tmp_path):
    grid = tmp_path / "grid.csv"
    pd.DataFrame([("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)")],
                 columns=["Target", "Inputs"]).to_csv(grid, index=False)
    return grid


def test_a_sweep_trained_on_one_device_is_read_back_on_another(tiny_cohort, tmp_path):
    grid, out = two_model_grid(tmp_path), tmp_path / "sweep"
    sweep(tiny_cohort, out, grid, config=SweepConfig(epochs=1, batch_size=8, device="cpu", torch_threads=1),
          progress=False)
    stamps = {p.parent.name: p.read_text() for p in out.glob("*/done.json")}
    elsewhere = SweepConfig(epochs=1, batch_size=8, device="cuda:1", num_workers=2, torch_threads=1)
    sweep(tiny_cohort, out, grid, config=elsewhere, progress=False)  # no GPU needed: nothing is trained
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"skipped"}
    assert {p.parent.name: p.read_text() for p in out.glob("*/done.json")} == stamps


@pytest.mark.parametrize("damaged", ["done.json", "metrics.csv"])
def test_a_damaged_file_of_a_finished_model_is_named_and_the_model_finished_again(tiny_cohort, tmp_path, capsys,
                                                                                   damaged):
    grid, out = two_model_grid(tmp_path), tmp_path / "sweep"
    config = SweepConfig(epochs=2, batch_size=8, torch_threads=1)
    sweep(tiny_cohort, out, grid, config=config, progress=False)
    before = pd.read_csv(out / "metrics_all.csv")
    path = out / "worry__meta-c" / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    capsys.readouterr()
    sweep(tiny_cohort, out, grid, config=config, progress=False)
    assert f"{path}" in capsys.readouterr().err
    log = pd.read_csv(out / "sweep_log.csv").set_index("model").status
    assert log.to_dict() == {"hb__meta-c-d-p": "skipped", "worry__meta-c": "trained"}
    assert progress_of(out / "worry__meta-c").epoch.tolist() == [0, 1]  # from its checkpoint: no epoch again
    after = pd.read_csv(out / "metrics_all.csv")
    timing = ["Training time (mins)"]
    pd.testing.assert_frame_equal(after.drop(columns=timing), before.drop(columns=timing), atol=1e-6)


def test_a_finished_model_is_read_back_without_refitting_or_redrawing(cache, tmp_path, monkeypatch):
    first = train_model(cache, cfg(), tmp_path)
    folder = tmp_path / "hb__meta-c-d-p"
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()}

    def refit(*_args, **_kwargs):
        raise AssertionError("a finished model was scored or fitted again")

    monkeypatch.setattr("legibility.train.evaluate_model", refit)
    monkeypatch.setattr("legibility.linear.linear_peer", refit)
    monkeypatch.setattr("legibility.train.FusedModel", refit)
    again = train_model(cache, cfg(), tmp_path, restore=True)
    assert again["r2"] == pytest.approx(first["r2"])
    assert {k: again[k] for k in ("Target", "Inputs", "ci_low", "ci_high", "linear_r2")} == \
        {k: pytest.approx(first[k]) if isinstance(first[k], float) else first[k]
         for k in ("Target", "Inputs", "ci_low", "ci_high", "linear_r2")}
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.is_file()} == written  # nothing rewritten
