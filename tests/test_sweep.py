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

from legibility.claims import Claim
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


def sweep_command(inpath, out, grid_file, *extra):
    return [sys.executable, "-m", "legibility.cli", "sweep", "--inpath", str(inpath), "--outpath", str(out),
            "--grid", str(grid_file), "--epochs", "1", "--patience", "1", "--batch_size", "8", "--side", "32",
            "--torch_threads", "1", *extra]


def trained_and_read_back(stdout: str) -> tuple[int, int]:
    """The counts in the sweep command's closing line."""
    import re

    found = re.search(r"\((\d+) trained, (\d+) read back\)", stdout)
    assert found, stdout
    return int(found[1]), int(found[2])


def without_timing(table):
    return table.drop(columns=["Training time (mins)"])


def test_two_sweeps_on_one_outpath_train_every_model_once(tiny_cohort, tmp_path, grid_file):
    single = tmp_path / "single"
    assert subprocess.run(sweep_command(tiny_cohort, single, grid_file), cwd=ROOT, capture_output=True).returncode == 0
    out = tmp_path / "shared"
    drivers = [subprocess.Popen(sweep_command(tiny_cohort, out, grid_file), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    ended = [d.communicate(timeout=600) for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], [e[1][-2000:] for e in ended]
    counts = [trained_and_read_back(stdout) for stdout, _ in ended]
    assert sum(trained for trained, _ in counts) == len(GRID_ROWS)  # each model trained by one driver only
    assert all(trained + read == len(GRID_ROWS) for trained, read in counts)  # each driver gathered all
    for name in ("metrics_all.csv", "metrics_comparison_test.csv"):
        pd.testing.assert_frame_equal(without_timing(pd.read_csv(out / name)),
                                      without_timing(pd.read_csv(single / name)), atol=1e-6)
    assert not list((out / ".claims").iterdir())  # every claim released


def test_a_live_claim_is_waited_for_and_a_stale_one_taken_over_saying_so(tiny_cohort, tmp_path, grid_file, capsys):
    import socket
    import threading

    out = tmp_path / "sweep"
    claims = out / ".claims"
    claims.mkdir(parents=True)
    dead_pid = 2**22 + 17  # above the kernel's pid limit: no process has it
    (claims / "age__connectivity.json").write_text(json.dumps(
        {"host": socket.gethostname(), "pid": dead_pid, "driver": "another", "token": "a", "start": time.time(),
         "heartbeat": time.time()}))
    elsewhere = claims / "hypertension__meta-c-p-s.json"
    others_done = [out / "sex__t1-flair" / "done.json", out / "age__connectivity" / "done.json"]

    # a worker on another node: beats (as a real holder does, stopping once its claim is no longer
    # its own) until the other models are done, then dies without releasing
    other = Claim(elsewhere, {"host": "node-elsewhere", "pid": 1, "driver": "another", "token": "h", "start": 0.0},
                  timeout=3)
    elsewhere.write_text(json.dumps({**other.holder, "heartbeat": time.time()}))
    other.start_heartbeat()

    def holder_dies():
        while not all(p.exists() for p in others_done):
            time.sleep(0.1)
        other._stop.set()

    holder = threading.Thread(target=holder_dies, daemon=True)
    holder.start()
    config = SweepConfig(epochs=1, patience=1, batch_size=8, side=32, torch_threads=1, claim_timeout=3)
    test = sweep(tiny_cohort, out, grid_file, config=config, progress=False)
    holder.join()
    err = capsys.readouterr().err
    assert f"took over the claim on age__connectivity (host {socket.gethostname()}, pid {dead_pid}" in err
    assert f"its process {dead_pid} on this host no longer runs" in err
    assert "1 model(s) are being trained by another worker" in err  # hypertension, while its holder beat
    assert "took over the claim on hypertension__meta-c-p-s (host node-elsewhere, pid 1" in err
    assert "more than the 3 s timeout" in err
    assert len(test) == len(GRID_ROWS)
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"trained"}
    assert not list(claims.iterdir())


def test_a_sweep_killed_again_and_again_gathers_what_an_uninterrupted_run_does(tiny_cohort, tmp_path):
    """The short version of benchmarks/chaos.py: three SIGKILLs (one as a file is being written)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    result = chaos.chaos(tiny_cohort, tmp_path, kills=3, seed=1, grid_rows=GRID_ROWS)
    assert len(result["kills"]) == 3
    assert result["max_difference"] <= 1e-6  # chaos.compare has checked rows, columns and text too


def test_a_claim_left_mid_takeover_by_a_killed_worker_is_taken_over(tmp_path):
    import socket

    from legibility.claims import claim_model

    claims = tmp_path / ".claims"
    claims.mkdir()
    gone = {"host": socket.gethostname(), "driver": "d", "start": time.time(), "heartbeat": time.time()}
    (claims / "m.json").write_text(json.dumps({**gone, "pid": 2**22 + 17, "token": "a"}))
    # a worker killed in the middle of taking the claim over left its lock
    (claims / "m.json.takeover").write_text(json.dumps({**gone, "pid": 2**22 + 19, "token": "b"}))
    claim, note = claim_model(tmp_path, "m", "this-driver", timeout=600)
    assert claim is not None, note
    assert f"process {2**22 + 17} on this host no longer runs" in note
    again, why = claim_model(tmp_path, "m", "another-driver", timeout=600)  # now held by a live process
    assert again is None
    assert "being trained by another worker" in why
    claim.release()
    assert not list(claims.iterdir())


def test_a_claim_released_while_its_heartbeat_writes_stays_released(tmp_path, monkeypatch):
    import threading

    from legibility import claims

    claim, _ = claims.claim_model(tmp_path, "m", "d", timeout=1)  # beats every 0.1 s
    writing = threading.Event()
    write = claims.atomic_write

    def slow_write(path, data, **kw):  # a beat that has checked its token and is now writing
        writing.set()
        time.sleep(0.3)
        return write(path, data, **kw)

    monkeypatch.setattr(claims, "atomic_write", slow_write)
    assert writing.wait(5)
    claim.release()  # during that write
    time.sleep(0.5)
    assert not list((tmp_path / ".claims").iterdir())
