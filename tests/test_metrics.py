"""The vectorised bootstrap gives what scikit-learn gives resample by resample."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, r2_score

from legibility.metrics import bootstrap_ci


@pytest.mark.parametrize("n_ones", [2, 30])
def test_vectorised_balanced_accuracy_ci_equals_sklearn(n_ones):
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(60 - n_ones, int), np.ones(n_ones, int)]
    p = np.where(rng.random(60) < 0.75, y, 1 - y)
    assert bootstrap_ci(y, p, "balanced_accuracy", seed=3) == bootstrap_ci(y, p, balanced_accuracy_score, seed=3)


def test_vectorised_r2_ci_equals_sklearn():
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    p = y + rng.normal(size=50)
    lo, hi = bootstrap_ci(y, p, "r2", seed=4)
    assert (lo, hi) == pytest.approx(bootstrap_ci(y, p, r2_score, seed=4), abs=1e-12)
    assert lo < 1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum() < hi
