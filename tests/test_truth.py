"""The 700 linear peers on shared decompositions, and the paper's analysis on the truth."""

import numpy as np
import pandas as pd
import pytest
from conftest import PUBLISHED

from legibility.study import METRIC_COLUMNS, resolve_inputs

# Both kinds of peer, every imaging key, metadata with and without imaging, no imaging at all.
PAIRS = [("age", "t1 flair", ()), ("sex", "dwi connectivity", ()), ("hb", "connectivity metadata", ("constitutional",
         "disease")), ("worry", "t1 flair dwi metadata", ("constitutional", "serology")),
         ("smoking", "metadata", ("constitutional", "psychology")), ("reaction_time", "dwi metadata",
                                                                     ("constitutional",))]


@pytest.fixture(scope="module")
def tiny_cache(tiny_cohort, tmp_path_factory):
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset

    return build_cache(load_dataset(tiny_cohort), side=32, root=tmp_path_factory.mktemp("cache"), progress=False)


def test_shared_peers_equal_the_one_by_one_fit(tiny_cache, monkeypatch):
    """Same penalties chosen, same scores: the ridge to 1e-9 (it is exact); the logistic
    regressions once both are solved to a tight tolerance (at scikit-learn's default, 1e-4,
    the one-by-one fit can stop short of the optimum the shared one reaches)."""
    import legibility.linear as linear
    from legibility.peers import linear_peers, linear_peers_one_by_one

    monkeypatch.setattr(linear, "LOGISTIC_TOL", 1e-10)
    pairs = [resolve_inputs(t, i, b) for t, i, b in PAIRS]
    fast = linear_peers(tiny_cache, pairs)
    slow = linear_peers_one_by_one(tiny_cache, pairs)
    assert list(fast[["Mode", "Target", "Inputs"]].itertuples(index=False)) == \
        list(slow[["Mode", "Target", "Inputs"]].itertuples(index=False))
    for col in ("Balanced accuracy", "r2", "MAE"):
        np.testing.assert_allclose(fast[col].astype(float), slow[col].astype(float), rtol=0, atol=1e-9, err_msg=col)
    assert (fast.r2 != 0).any()
    assert fast["Balanced accuracy"].notna().all()


def test_shared_ridge_differs_when_a_feature_is_left_out(tiny_cache):
    """The comparison above can fail: a peer that loses its metadata block scores otherwise."""
    from legibility.peers import linear_peers

    with_meta = linear_peers(tiny_cache, [resolve_inputs("hb", "connectivity metadata", ("constitutional",))])
    without = linear_peers(tiny_cache, [resolve_inputs("hb", "connectivity", ())])
    assert not np.allclose(with_meta.MAE, without.MAE)


def test_truth_analysis_on_a_tiny_cohort(tiny_cohort, tiny_cache, tmp_path):
    from legibility.truth import SOURCES, TRUTH_COLUMNS, run_truth

    published = str(PUBLISHED) if PUBLISHED.exists() else None
    result = run_truth(tiny_cohort, tmp_path / "truth", sweep_metrics=tmp_path / "absent.csv", published=published,
                       cache_root=tiny_cache.path.parent, formats=("png",))
    ceilings = result["tables"]["ceiling"]
    assert len(ceilings) == 700
    assert set(METRIC_COLUMNS) <= set(ceilings.columns)
    assert ceilings.groupby("Target").size().to_dict()["Age"] == 7
    peers = pd.read_csv(result["paths"]["linear_peers"])
    assert len(peers) == 700
    assert set(METRIC_COLUMNS) <= set(peers.columns)
    assert (peers.Mode == "Test").all()
    assert "no deep sweep" in result["notes"]["deep"]
    effects = pd.read_csv(result["paths"]["effects"])
    assert list(effects.columns) == list(TRUTH_COLUMNS)
    want = ["ceiling", "linear peer"] + (["published"] if published else [])
    assert list(dict.fromkeys(effects.source)) == want
    ok = effects[effects.status.str.startswith("ok")]
    assert set(ok.source) == set(want)  # each source's fits were made
    ceiling_psych = ok[(ok.source == "ceiling") & (ok.domain == "Psychology") & (ok.term == "Disease")]
    assert len(ceiling_psych) == 1
    assert np.isfinite(ceiling_psych.t.iloc[0])
    by_term = pd.read_csv(result["paths"]["by_term"])
    assert list(by_term.columns) == ["domain", "outcome", "term", *[s for s in SOURCES if s in want]]
    assert (tmp_path / "truth" / "truth_effects.png").exists()


def test_the_published_table_gives_the_papers_psychology_effect(published_table):
    """The published source is the paper's table as the analysis reads it: structural imaging
    lowers psychology balanced accuracy by 0.014 (the paper's coefficient)."""
    from legibility.truth import effects_by_source

    effects = effects_by_source({"published": published_table.reset_index(drop=True)})
    row = effects[(effects.domain == "Psychology") & (effects.term == "T1") & (effects.outcome == "Balanced accuracy")]
    assert row.coef.iloc[0] == pytest.approx(-0.014, abs=0.0015)


def test_the_truth_command_refuses_data_without_ceilings(tmp_path, capsys):
    from legibility.cli import main

    assert main(["truth", "--inpath", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "No ground_truth.csv in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
