"""Shared fixtures: the published table (skipped cleanly without ../shared), a tiny cohort."""

from __future__ import annotations

import os
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
