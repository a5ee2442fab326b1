"""A Ray worker killed mid-model (what an out-of-memory kill or a pre-empted node does) does not
end the sweep: Ray retries the model, which resumes from its checkpoint; only when the retries
are spent is it recorded as failed, and the other models go on."""

import os
import signal
import threading
import time

import pandas as pd
import pytest

from legibility.sweep import SweepConfig, sweep

GRID = [("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)"), ("Age", "rsfMRI Connectivity")]
VICTIM = "hb__meta-c-d-p"
EPOCHS = 40


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    yield
    ray.shutdown()


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.csv"
    pd.DataFrame(GRID, columns=["Target", "Inputs"]).to_csv(path, index=False)
    return path


def kill_its_worker_once_training(folder, killed: list, timeout: float = 600):
    """SIGKILL the process training the model in ``folder`` once its first epoch is written."""
    progress = folder / "training_progress.csv"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if progress.exists():
            pid = int(pd.read_csv(progress).pid.iloc[-1])  # the file is replaced atomically
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def sweep_killing_one_worker(tiny_cohort, out, grid_file, retries):
    config = SweepConfig(epochs=EPOCHS, patience=EPOCHS, batch_size=8, torch_threads=1, cpus_per_model=1,
                         max_retries=retries)
    killed = []
    killer = threading.Thread(target=kill_its_worker_once_training, args=(out / VICTIM, killed))
    killer.start()
    test = sweep(tiny_cohort, out, grid_file, executor="ray", config=config, progress=False)
    killer.join()
    assert len(killed) == 1, "the worker was never seen training"
    return test, killed[0]


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_its_model_resumes(local_ray, tiny_cohort, tmp_path, grid_file):
    out = tmp_path / "sweep"
    test, killed = sweep_killing_one_worker(tiny_cohort, out, grid_file, retries=2)
    assert len(test) == 3
    assert len(pd.read_csv(out / "failures.csv")) == 0
    assert set(pd.read_csv(out / "sweep_log.csv").status) == {"trained"}
    assert all((out / name / "done.json").exists() for name in (VICTIM, "worry__meta-c", "age__connectivity"))
    hist = pd.read_csv(out / VICTIM / "training_progress.csv")
    assert hist.epoch.tolist() == list(range(EPOCHS))  # every epoch once
    assert hist.pid.iloc[0] == killed  # the epochs before the kill were kept...
    assert hist.pid.nunique() == 2  # ...and another worker trained the rest


@pytest.mark.slow
def test_a_model_whose_retries_are_spent_is_recorded_and_the_others_go_on(local_ray, tiny_cohort, tmp_path,
                                                                          grid_file):
    out = tmp_path / "sweep"
    test, _ = sweep_killing_one_worker(tiny_cohort, out, grid_file, retries=0)
    assert list(test.Target) == ["Worry", "Age"]
    failures = pd.read_csv(out / "failures.csv")
    assert failures.model.tolist() == [VICTIM]
    assert failures.error[0].startswith("WorkerCrashedError after 0 retries")
    assert (out / VICTIM / "error.txt").exists()
