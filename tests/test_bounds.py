"""The ground-truth ceilings are bounds: checked by a learner the ceilings' code did not write
(``benchmarks/bounds.py``: scikit-learn on the images as written to disk)."""

import importlib.util
from pathlib import Path

import pytest

from legibility.cohort.writer import generate_cohort

ROOT = Path(__file__).resolve().parent.parent


def _bounds_module():
    spec = importlib.util.spec_from_file_location("bounds", ROOT / "benchmarks" / "bounds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bounds_cohort(tmp_path_factory):
    """800 training and 200 test participants at 16^3: enough for a linear learner to read
    what the DWI maps carry."""
    out = tmp_path_factory.mktemp("bounds") / "data"
    generate_cohort(out, n=1000, side=16, seed=21, regions=32, nodes=12, ceiling_n=2000,
                    progress=False, workers=2)
    return out


def test_no_learner_beats_the_dwi_ceilings(bounds_cohort):
    """Age and weight from the DWI map alone: the independent learner stays under the ceiling
    (within 2 combined standard errors) and still reads a good share of it."""
    bounds = _bounds_module()
    table = bounds.check_bounds(bounds_cohort, target_keys=("age", "weight"), modality_sets=(("dwi",),),
                                progress=False)
    assert len(table) == 2
    for row in table.itertuples():
        assert row.excess_in_se <= 2.0, row
        assert row.learner > 0.3 * row.ceiling, row  # the learner works: the check has power
