"""The domain analyses against R itself: tests/r/domain_effects.R runs the same nlme::lme calls.

Skips where ``Rscript`` (with nlme) or the published table (../shared) is absent; ``.ci/run``
installs R. Besides the published table, a variant of it is fitted where Serology is constant
within each disease target (a between-target term, with its own degrees of freedom) and the
constitutional outcome is noise (a random-intercept variance at its boundary), and some
serology models have a negative R² (left out of the R² models).
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from legibility.analysis import domain_effects, load_metrics

SCRIPT = Path(__file__).parent / "r" / "domain_effects.R"
KEY = ["domain", "outcome", "formula", "term"]


@pytest.fixture(scope="module")
def rscript():
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript not found (.ci/run installs r-base-core and r-cran-nlme)")
    if subprocess.run([path, "-e", "library(nlme)"], capture_output=True).returncode:
        pytest.skip("R is here but its nlme package is not (apt-get install r-cran-nlme)")
    return path


def _variant(published: pd.DataFrame) -> pd.DataFrame:
    table = published.copy()
    disease = table.Domain == "Disease"
    targets = sorted(table[disease].Target.unique())
    keep = ~disease | (table.Target.isin(targets[::2]) == (table.Serology == "Yes"))
    table = table[keep].copy()
    constitutional = table.Domain == "Constitutional"
    rng = np.random.default_rng(1)
    table.loc[constitutional, "Balanced accuracy"] = 0.8 + 0.01 * rng.standard_normal(constitutional.sum())
    serology = table.index[table.Domain == "Serology"]
    table.loc[serology[::9], "r2"] = -0.02  # worse than the mean: left out of the R² models, by both
    return table


@pytest.mark.parametrize("which", ["published", "variant"])
def test_every_coefficient_se_df_and_p_equals_nlme(which, rscript, published_table, tmp_path):
    table = published_table if which == "published" else _variant(published_table)
    path = tmp_path / "metrics.csv"
    table.to_csv(path)
    run = subprocess.run([rscript, str(SCRIPT), str(path), str(tmp_path / "r.csv")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    theirs = pd.read_csv(tmp_path / "r.csv")
    ours = domain_effects(load_metrics(path))
    ours = ours[ours.coef.notna()]
    assert len(ours) == len(theirs) == 36
    both = ours.merge(theirs, on=KEY, suffixes=("", "_r"), validate="one_to_one")
    assert len(both) == len(theirs)  # the same models, formulas and terms
    assert (both.n == both.n_r).all()
    assert (both.n_targets == both.n_targets_r).all()
    np.testing.assert_array_equal(both.df, both.df_r)
    for column in ("coef", "se", "t", "ci_low", "ci_high"):
        np.testing.assert_allclose(both[column], both[f"{column}_r"], rtol=1e-5, atol=1e-12, err_msg=column)
    large = both.p_r > 1e-3
    np.testing.assert_allclose(both.p[large], both.p_r[large], atol=1e-4, rtol=0)
    np.testing.assert_allclose(both.p[~large], both.p_r[~large], rtol=1e-3, atol=1e-300)
    np.testing.assert_allclose(both.icc, both.icc_r, atol=1e-6)
    if which == "variant":
        disease = both[(both.domain == "Disease") & (both.term == "Serology")].iloc[0]
        assert disease.df == disease.n_targets - 2  # constant within each target: the between-target df
        constitutional = both[both.domain == "Constitutional"]
        assert (constitutional.icc < 1e-6).all()
        assert constitutional.status.str.contains("boundary").all()
        assert (both[both.outcome == "r2"].n == 128 - len(range(0, 128, 9))).all()
