"""Shared fixtures: the published table (skipped cleanly without ../shared), a tiny cohort."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # headless plotting

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LEGIBILITY_SHARED", ROOT.parent / "shared"))
PUBLISHED = SHARED / "paper" / "metrics_comparison_test.csv"


@pytest.fixture(scope="session")
def published_table():
    """The paper's published metrics table, read from ../shared (never a committed copy)."""
    if not PUBLISHED.exists():
        pytest.skip(f"published table not found at {PUBLISHED} (../shared is absent)")
    import pandas as pd

    return pd.read_csv(PUBLISHED, index_col=0)


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_cache(tmp_path_factory):
    """Keep ground-truth caches of the test run out of the user's home."""
    os.environ.setdefault("LEGIBILITY_CACHE", str(tmp_path_factory.mktemp("user_cache")))


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """A 40-participant cohort at 24^3, generated once for the session."""
    from legibility.cohort.writer import generate_cohort

    out = tmp_path_factory.mktemp("cohort") / "data"
    generate_cohort(out, n=40, side=24, seed=3, regions=32, nodes=20, ceiling_n=2000,
                    progress=False, workers=2)
    return out


def fail_training_of(monkeypatch, target_key: str):
    """Make every model of ``target_key`` fail as an out-of-memory would; the others train."""
    import legibility.train as train

    real = train.train_model

    def flaky(cache, cfg, outpath, **kw):
        if cfg.target == target_key:
            raise RuntimeError("simulated out-of-memory")
        return real(cache, cfg, outpath, **kw)

    monkeypatch.setattr(train, "train_model", flaky)


@pytest.fixture(scope="session")
def tiny_paper(tmp_path_factory):
    """The whole paper run once at a tiny size (24 participants, a 4-model grid, one epoch):
    ``(parameters, folder, executed notebooks)``; the executed notebooks are in
    ``folder/results/notebooks``, the figures in ``folder/figs``."""
    import pandas as pd

    from legibility.pipeline import run_paper

    tmp_path = tmp_path_factory.mktemp("paper")
    grid = tmp_path / "grid.csv"
    pd.DataFrame([("Sex (Male)", "FLAIR + T1"), ("Age", "rsfMRI Connectivity"),
                  ("Worry", "Non-imaging data (C + D + S)"), ("Worry", "FLAIR + T1 + Non-imaging data (C + D + S)")],
                 columns=["Target", "Inputs"]).to_csv(grid, index=False)
    sweep_dir = tmp_path / "sweep"
    params = {"synthetic_dir": str(tmp_path / "data"), "n_participants": 24, "side": 32, "ceiling_n": 1000,
              "epochs": 1, "patience": 1, "batch_size": 8, "grid": str(grid), "outpath": str(sweep_dir),
              "sweep_dir": str(sweep_dir), "target": "sex", "figures_dir": str(tmp_path / "figs"),
              "out_dir": str(tmp_path / "analysis"), "scaling_dir": str(tmp_path / "scaling"),
              "scaling_targets": "age", "scaling_sizes": "0.5 1", "scaling_seeds": 1, "scaling_max_epochs": 1,
              "published": str(PUBLISHED) if PUBLISHED.exists() else ""}  # notebook 08: never the network
    done = run_paper(params, results_dir=tmp_path / "results", progress=False)
    return params, tmp_path, done


def chromium_or_skip() -> str:
    """The path of a Chromium to drive with playwright; the test is skipped where there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on this machine (.ci/run installs it)")


def interrupt_in_third_epoch(cache, config, outpath, monkeypatch):
    """Train ``config`` until the middle of its third epoch, as a kill would stop it there."""
    from legibility.data.model_data import ModelData
    from legibility.train import train_model

    real = ModelData.batch
    calls = {"n": 0}

    def dying(self, rows, **kw):
        calls["n"] += 1
        if calls["n"] == 12:  # in the middle of the third epoch (batch 8)
            raise KeyboardInterrupt
        return real(self, rows, **kw)

    monkeypatch.setattr(ModelData, "batch", dying)
    with pytest.raises(KeyboardInterrupt):
        train_model(cache, config, outpath)
    monkeypatch.setattr(ModelData, "batch", real)
