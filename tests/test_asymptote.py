"""The linear asymptote: what a linear learner on aligned voxels reaches with unlimited data.

It sits at the ceiling where the images are linear in what they carry (the linear world), falls
below it where shape carries the imprint (the anatomical world), never exceeds it, and is
written beside it in ``ground_truth.csv``.
"""

import json

import numpy as np
import pandas as pd
import pytest

from legibility import paths
from legibility.cohort import anatomy, asymptote
from legibility.cohort.ground_truth import ceilings
from legibility.cohort.writer import generate_cohort
from legibility.study import parse_inputs_label, target

AGE_STRUCTURAL = [(target("age"), parse_inputs_label("FLAIR + T1"))]


@pytest.fixture(scope="module")
def age_ceiling():
    return ceilings(n=8000, pairs=AGE_STRUCTURAL)


def _age_asymptote(world, n=1500):
    sample = asymptote.image_sample(n, side=16, world=world, seed=5, regions=32, workers=2)
    return asymptote.linear_asymptotes(sample, AGE_STRUCTURAL).iloc[0]


def test_shape_lowers_the_linear_asymptote_and_not_the_ceiling(age_ceiling):
    """Same participants: in the linear world a linear learner with unlimited data reaches the
    ceiling for age from T1 + FLAIR (to within what 1,500 participants can tell); with every
    regional imprint carried by shape it reaches clearly less."""
    ceiling = float(age_ceiling.r2.iloc[0])
    linear = _age_asymptote(anatomy.LINEAR)
    shaped = _age_asymptote(anatomy.World("anatomical", 1.0))
    assert abs(linear.linear_asymptote - ceiling) < 0.04, (linear.linear_asymptote, ceiling)
    assert shaped.linear_asymptote < linear.linear_asymptote - 0.06, (shaped.linear_asymptote,
                                                                      linear.linear_asymptote)
    assert 0 < linear.linear_asymptote_se < 0.05


def test_the_asymptote_is_capped_at_the_ceiling(age_ceiling):
    sample = asymptote.image_sample(200, side=16, seed=1, regions=32, workers=1)
    low = age_ceiling.assign(r2=0.1)  # a ceiling below what the voxels give
    table = asymptote.linear_asymptotes(sample, AGE_STRUCTURAL, low)
    assert table.linear_asymptote.iloc[0] == pytest.approx(0.1)


def test_the_binary_labels_are_projected_out_of_fold():
    """Every block of projected observations holds the 25 observations and the projections
    of the binary labels, and no row's projection is fitted on that row (out of fold)."""
    sample = asymptote.image_sample(100, side=16, seed=2, regions=32, workers=1)
    proj = asymptote.projected_observations(sample, frozenset({"t1", "flair"}), components=20)
    block = proj["structural"]
    assert {"sex_label", "age"} <= set(block)
    assert len(block) == 100
    assert "dwi" not in proj
    # out of fold: a label projected by a fit that included it would correlate ~1 with 20
    # components on 80 rows; out of fold it cannot be perfect
    corr = np.corrcoef(block["sex_label"], sample["values"]["sex"])[0, 1]
    assert corr < 0.999


def test_generate_cohort_writes_the_asymptote_beside_the_ceiling(tmp_path, monkeypatch):
    from legibility.cohort import ground_truth

    monkeypatch.setattr(ground_truth, "cached_ceilings",
                        lambda n, progress=False: ceilings(n=4000, pairs=AGE_STRUCTURAL))
    out = tmp_path / "c"
    generate_cohort(out, n=12, side=16, seed=3, regions=30, nodes=12, progress=False, workers=1,
                    world="anatomical", shape_share=1.0, asymptote_n=300)
    gt = pd.read_csv(out / paths.GROUND_TRUTH)
    assert {"linear_asymptote", "linear_asymptote_se"} <= set(gt.columns)
    assert 0 < gt.linear_asymptote.iloc[0] <= gt.r2.iloc[0]
    assert json.loads((out / paths.COHORT_INFO).read_text())["asymptote_n"] == 300
    # cached: a second cohort of the same world reads it back (same numbers, no new sample)
    monkeypatch.setattr(asymptote, "image_sample", lambda *a, **k: pytest.fail("not cached"))
    generate_cohort(tmp_path / "d", n=12, side=16, seed=4, regions=30, nodes=12, progress=False, workers=1,
                    world="anatomical", shape_share=1.0, asymptote_n=300)
    again = pd.read_csv(tmp_path / "d" / paths.GROUND_TRUTH)
    assert again.linear_asymptote.iloc[0] == gt.linear_asymptote.iloc[0]


def test_every_input_set_of_the_grid_gets_a_finite_asymptote():
    """Across imaging groups (T1 + FLAIR with DWI) the labels are projected once, so no target's
    fit meets the same column twice; a target read through a link function (hb's) stays finite."""
    sample = asymptote.image_sample(300, side=16, seed=6, regions=32, workers=2)
    proj = asymptote.projected_observations(sample, frozenset({"t1", "flair", "dwi"}), components=30)
    assert "sex_label" in proj["structural"]
    assert "sex_label" not in proj["dwi"]
    pairs = [(target(t), parse_inputs_label(i)) for t in ("hb", "sex", "age")
             for i in ("DWI + FLAIR + T1", "DWI + FLAIR + T1 + Non-imaging data (C + D + S)", "DWI")]
    table = asymptote.linear_asymptotes(sample, pairs)
    assert np.isfinite(table.linear_asymptote).all(), table
