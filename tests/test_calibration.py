"""The calibration of the modalities' information to the paper is a function that re-runs."""

import pytest

from legibility.cohort.calibration import CALIBRATION, CalibrationTarget, calibrate, calibrated_value
from legibility.cohort.information import MODALITIES, RHO2
from legibility.study import TARGETS


def test_calibration_targets_are_the_published_tables_numbers(published_table):
    by = published_table.set_index(["Target", "Inputs"])
    for t in CALIBRATION:
        name = TARGETS[t.key].display
        values = [float(by.loc[(name, label), t.metric]) for label in t.inputs]
        paper = values[0] - values[1] if t.kind == "gain" else values[0]
        assert t.paper == pytest.approx(paper, abs=1e-3), t


def test_bisection_recovers_the_share_in_use():
    """Age from structural imaging: calibrating again lands on the share in RHO2, and the
    statistic rises with the share."""
    t = CalibrationTarget("age", "structural", "score", 0.859)
    assert calibrated_value(t, 0.5, n=6000) < calibrated_value(t, 0.9, n=6000)
    row = calibrate([t], n=6000, steps=14, progress=False).iloc[0]
    assert row.reached == pytest.approx(0.859, abs=0.005)
    assert row.rho2 == pytest.approx(RHO2["age"][MODALITIES.index("structural")], abs=0.03)


def test_a_share_of_zero_is_kept_when_the_paper_is_at_chance():
    t = CalibrationTarget("handedness", "structural", "score", 0.40)
    assert calibrate([t], n=4000, progress=False).iloc[0].rho2 == 0.0
