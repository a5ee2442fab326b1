"""Numbers a sceptic cannot knock over: choices made on validation only, test rows that never
steer training, predictions that reproduce the written scores, ceilings that are bounds and
never stale, and a model that reads what is there and nothing that is not."""

import shutil

import numpy as np
import pandas as pd
import pytest

from legibility import paths
from legibility.cohort import ground_truth as gt
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.evaluation import (
    SELECTED_ON_PUBLISHED_TEST,
    SELECTED_ON_VALIDATION,
    best_models,
    ceiling,
)
from legibility.predict import predict
from legibility.study import TARGETS, parse_inputs_label
from legibility.train import TrainConfig, train_model


# ----------------------------------------------------------------------------- model choice
def _rows(target, inputs, val, test, mode_extra=None):
    metric = "Balanced accuracy" if TARGETS[next(k for k, t in TARGETS.items() if t.display == target)].is_binary \
        else "r2"
    out = []
    for mode, score in (("Validation", val), ("Test", test)):
        out.append({"Mode": mode, "Target": target, "Inputs": inputs, "Domain": "Psychology",
                    "Balanced accuracy": score if metric == "Balanced accuracy" else 0.5,
                    "r2": score if metric == "r2" else 0.0, "ci_low": score - 0.1, "ci_high": score + 0.1,
                    "linear_balanced_accuracy": 0.55, "linear_r2": 0.1})
    return out


def test_best_input_set_is_chosen_on_validation_not_test():
    # Worry: validation prefers A, test would prefer B. Age: validation prefers D.
    table = pd.DataFrame(_rows("Worry", "A", 0.60, 0.52) + _rows("Worry", "B", 0.55, 0.64)
                         + _rows("Worry", "C", 0.58, 0.50) + _rows("Age", "D", 0.70, 0.60)
                         + _rows("Age", "E", 0.65, 0.75))
    best = best_models(table).set_index("Target")
    assert best.loc["Worry", "Inputs"] == "A"
    assert best.loc["Worry", "val_score"] == pytest.approx(0.60)
    assert best.loc["Worry", "test_score"] == pytest.approx(0.52)  # A's test score, not B's 0.64
    assert best.loc["Worry", "ci_low"] == pytest.approx(0.42)
    assert best.loc["Age", "Inputs"] == "D"
    assert best.loc["Age", "metric"] == "r2"
    assert (best.selected_by == SELECTED_ON_VALIDATION).all()


def test_a_table_of_test_rows_only_says_its_choice_is_test_based(published_table):
    best = best_models(published_table).set_index("Target")
    assert (best.selected_by == SELECTED_ON_PUBLISHED_TEST).all()
    assert best.val_score.isna().all()
    assert best.loc["Age", "Inputs"] == "FLAIR + T1"
    assert best.loc["Age", "test_score"] == pytest.approx(0.859, abs=1e-3)


def test_the_best_of_a_sweep_is_chosen_on_the_validation_rows_beside_it(tmp_path):
    table = pd.DataFrame(_rows("Worry", "A", 0.60, 0.52) + _rows("Worry", "B", 0.55, 0.64))
    table.to_csv(tmp_path / "metrics_all.csv", index=False)
    table[table.Mode == "Test"].to_csv(tmp_path / "metrics_comparison_test.csv", index=False)
    best = best_models(tmp_path / "metrics_comparison_test.csv")
    assert best.Inputs.tolist() == ["A"]
    best.to_csv(tmp_path / paths.BEST_MODELS, index=False)
    assert best_models(tmp_path / paths.BEST_MODELS).Inputs.tolist() == ["A"]


def test_the_best_models_beside_their_ceilings_read_the_cohorts_ground_truth(tiny_cohort):
    truth = pd.read_csv(tiny_cohort / paths.GROUND_TRUTH)
    assert (truth.ceiling_se > 0).all()
    pick = truth[(truth.Target == "Age") & (truth.Inputs == "FLAIR + T1")].iloc[0]
    table = pd.DataFrame(_rows("Age", "FLAIR + T1", 0.7, 0.6) + _rows("Age", "DWI", 0.5, 0.8))
    best = best_models(table, tiny_cohort).iloc[0]
    assert best.Inputs == "FLAIR + T1"
    assert best.ceiling == pytest.approx(pick.r2)
    assert best.ceiling_se == pytest.approx(pick.ceiling_se)
    # an input set outside the grid (a psychology item from imaging alone) is computed on demand
    value, se = ceiling(tiny_cohort, "Worry", "DWI + FLAIR + T1")
    assert 0.45 < value < 0.7
    assert 0 < se < 0.05
    assert np.isnan(ceiling(None, "Age", "FLAIR + T1", "r2")[0])
    assert value == ceiling(tiny_cohort, "Worry", "DWI + FLAIR + T1", "Balanced accuracy")[0]  # the main metric


# ----------------------------------------------------------------------------- ceilings
def test_ceiling_cache_key_covers_every_source_it_depends_on(monkeypatch):
    """The key changes when any module the ceilings are computed from changes, and those
    modules include the ones holding every function the computation calls."""
    used = {gt.draw_latents, gt.make_characteristics, gt.observe, gt.score_binary, gt.score_continuous,
            gt.bootstrap_se, gt.grid, gt.ceiling}
    assert {f.__module__ for f in used} <= set(gt.FINGERPRINT_MODULES)
    base = gt.generator_fingerprint(1000, 1)
    original = gt._module_source
    for name in gt.FINGERPRINT_MODULES:
        monkeypatch.setattr(gt, "_module_source", lambda m, name=name: original(m) + (b"#" if m == name else b""))
        assert gt.generator_fingerprint(1000, 1) != base, name
    monkeypatch.setattr(gt, "_module_source", original)
    assert gt.generator_fingerprint(1000, 1) == base
    assert gt.generator_fingerprint(1000, 2) != base
    rho2 = {k: (0.5, 0.5, 0.5) for k in gt.RHO2}
    assert gt.generator_fingerprint(1000, 1, rho2) != base


def test_cached_ceilings_are_recomputed_after_a_generator_edit(monkeypatch, tmp_path):
    monkeypatch.setenv("LEGIBILITY_CACHE", str(tmp_path))
    calls = []

    def fake(n, seed, progress):
        calls.append(n)
        return pd.DataFrame({"Target": ["Age"], "r2": [0.5 + len(calls)]})

    monkeypatch.setattr(gt, "ceilings", fake)
    assert gt.cached_ceilings(n=100).r2.iloc[0] == 1.5
    assert gt.cached_ceilings(n=100).r2.iloc[0] == 1.5  # read back, not recomputed
    assert len(calls) == 1
    original = gt._module_source
    monkeypatch.setattr(gt, "_module_source", lambda m: original(m) + b"# edited")
    assert gt.cached_ceilings(n=100).r2.iloc[0] == 2.5
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["edit", "truncate"])
def test_a_damaged_ceilings_cache_is_named_and_computed_again(monkeypatch, tmp_path, capsys, damage):
    monkeypatch.setenv("LEGIBILITY_CACHE", str(tmp_path))
    calls = []

    def fake(n, seed, progress):
        calls.append(n)
        return pd.DataFrame({"Target": ["Age", "Hb"], "r2": [0.5 + len(calls), 0.25]})

    monkeypatch.setattr(gt, "ceilings", fake)
    assert gt.cached_ceilings(n=100).r2.iloc[0] == 1.5
    (path,) = tmp_path.glob("ground_truth-*.csv")
    text = path.read_text()
    path.write_text(text.replace("1.5", "9.5") if damage == "edit" else text[: len(text) // 2])
    capsys.readouterr()
    assert gt.cached_ceilings(n=100).r2.tolist() == [2.5, 0.25]  # computed again, not read from the damaged file
    assert f"The ceilings cache {path} is damaged" in capsys.readouterr().err
    assert len(calls) == 2
    assert gt.cached_ceilings(n=100).r2.iloc[0] == 2.5  # and the new file is whole
    assert len(calls) == 2


@pytest.fixture(scope="module")
def reference():
    return gt.reference_sample(n=10_000, seed=5)


@pytest.mark.parametrize("key", ["hba1c", "reaction_time"])
@pytest.mark.parametrize("inputs", ["Non-imaging data (C)", "FLAIR + T1 + Non-imaging data (C + D + P)"])
def test_ceilings_of_skewed_targets_are_bounds(reference, key, inputs):
    """HbA1c and reaction time are exponential in their liability: the ceiling predicts the
    conditional mean of the known map, and neither a linear fit in original units nor a
    boosted-tree model beats it by more than its sampling error."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    values, obs, lia = reference
    tgt, ins = TARGETS[key], parse_inputs_label(inputs)
    ceil = gt.ceiling(values, obs, tgt, ins, lia)
    x = gt._features(values, obs, tgt, ins)
    y = values[key].to_numpy()
    half = len(y) // 2
    linear = r2_score(y[half:], LinearRegression().fit(x[:half], y[:half]).predict(x[half:]))
    trees = HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, random_state=0).fit(x[:half], y[:half])
    boosted = r2_score(y[half:], trees.predict(x[half:]))
    assert 0 < ceil["ceiling_se"] < 0.02
    assert linear <= ceil["r2"] + 2 * ceil["ceiling_se"]
    assert boosted <= ceil["r2"] + 2 * ceil["ceiling_se"]
    assert ceil["r2"] >= linear - 1e-3  # the link-aware predictor is never worse than a linear one


# ----------------------------------------------------------------------------- training never sees test
@pytest.fixture(scope="module")
def two_cohorts_differing_in_test_labels(tiny_cohort, tmp_path_factory):
    """The tiny cohort twice; in the second, the test participants' ages are permuted."""
    root = tmp_path_factory.mktemp("twins")
    a, b = root / "a", root / "b"
    for d in (a, b):
        shutil.copytree(tiny_cohort, d, ignore=shutil.ignore_patterns("_cache"))
    table = load_dataset(b).table
    test_ids = set(table.loc[table.split == "test", "biobank_id"].astype(str))
    meta = paths.metadata_path(b, "TEST")
    m = pd.read_csv(meta, dtype={"biobank_id": str})
    hit = m.biobank_id.astype(str).isin(test_ids).to_numpy()
    assert hit.sum() >= 3
    m.loc[hit, "age"] = m.loc[hit, "age"].to_numpy()[::-1] + 5.0
    m.to_csv(meta, index=False)
    return a, b


def test_test_labels_never_reach_early_stopping_or_the_kept_model(two_cohorts_differing_in_test_labels, tmp_path):
    a, b = two_cohorts_differing_in_test_labels
    cfg = dict(target="age", inputs=("t1", "flair"), epochs=4, patience=2, batch_size=8, progress=False, seed=2)
    train_model(build_cache(load_dataset(a), 32, progress=False), TrainConfig(**cfg, side=32), tmp_path / "a")
    train_model(build_cache(load_dataset(b), 32, progress=False), TrainConfig(**cfg, side=32), tmp_path / "b")
    ha = pd.read_csv(tmp_path / "a" / "age__t1-flair" / "training_progress.csv")
    hb = pd.read_csv(tmp_path / "b" / "age__t1-flair" / "training_progress.csv")
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"))
    ma = pd.read_csv(tmp_path / "a" / "age__t1-flair" / "metrics.csv").set_index("Mode")
    mb = pd.read_csv(tmp_path / "b" / "age__t1-flair" / "metrics.csv").set_index("Mode")
    assert ma.loc["Validation", "r2"] == mb.loc["Validation", "r2"]
    assert ma.loc["Test", "r2"] != mb.loc["Test", "r2"]  # the test labels did differ
    pa = pd.read_csv(tmp_path / "a" / "age__t1-flair" / "test_predictions.csv")
    pb = pd.read_csv(tmp_path / "b" / "age__t1-flair" / "test_predictions.csv")
    np.testing.assert_array_equal(pa.prediction, pb.prediction)  # the same kept model


def test_predict_reproduces_the_scores_written_at_training(tiny_cohort, tmp_path):
    cache = build_cache(load_dataset(tiny_cohort), 32, progress=False)
    cfg = TrainConfig(target="age", inputs=("t1", "flair"), side=32, epochs=2, batch_size=8, progress=False, seed=4)
    train_model(cache, cfg, tmp_path)
    model = tmp_path / "age__t1-flair"
    written = pd.read_csv(model / "test_predictions.csv")
    again = predict(model, cache)
    again = again[again.split == "test"]
    assert len(again) == len(written)
    np.testing.assert_allclose(again["age_predicted"].to_numpy(), written.prediction.to_numpy(), rtol=1e-5)


# ----------------------------------------------------------------------------- reads what is there
@pytest.fixture(scope="module")
def sex_cohort(tmp_path_factory):
    """200 participants at 32^3: 160 train, 20 validation, 20 test."""
    from legibility.cohort.writer import generate_cohort

    out = tmp_path_factory.mktemp("sexcohort") / "data"
    generate_cohort(out, n=200, side=32, seed=11, regions=32, nodes=12, ceiling_n=1000, progress=False, workers=2)
    return build_cache(load_dataset(out), 32, progress=False)


@pytest.mark.parametrize(("shuffle", "low", "high"), [(False, 0.85, 1.0), (True, 0.0, 0.7)])
def test_a_model_reads_sex_from_the_images_and_nothing_from_shuffled_ones(sex_cohort, tmp_path, shuffle, low, high):
    cfg = TrainConfig(target="sex", inputs=("t1", "flair"), side=32, epochs=8, patience=8, batch_size=16,
                      progress=False, seed=0, shuffle_images=shuffle)
    row = train_model(sex_cohort, cfg, tmp_path)
    both = pd.read_csv(next(tmp_path.glob("sex__*")) / "metrics.csv")
    mean_ba = both["Balanced accuracy"].mean()  # validation and test: 40 participants
    assert low <= mean_ba <= high, (row["Balanced accuracy"], mean_ba)


def test_scores_above_their_ceiling_and_below_chance_are_flagged(tiny_cohort):
    from legibility.pipeline import best_table_lines

    truth = pd.read_csv(tiny_cohort / paths.GROUND_TRUTH).set_index(["Target", "Inputs"])
    age, weight = truth.loc[("Age", "FLAIR + T1"), "r2"], truth.loc[("Weight", "FLAIR + T1"), "r2"]
    table = pd.DataFrame(_rows("Age", "FLAIR + T1", 0.7, age + 0.05)  # ceiling within its CI (+-0.1)
                         + _rows("Weight", "FLAIR + T1", 0.7, weight + 0.2)  # ceiling below all of its CI
                         + _rows("Worry", "FLAIR + T1", 0.6, 0.38))  # CI [0.28, 0.48]: at or below chance
    table.loc[table.Target == "Weight", "linear_r2"] = weight + 0.03
    best = best_models(table, tiny_cohort).set_index("Target")
    assert best.loc["Age", "above_ceiling"] == "sampling"
    assert best.loc["Weight", "above_ceiling"] == "suspect"
    assert best.loc["Weight", "peer_above_ceiling"] == "sampling"
    assert best.loc["Worry", "above_ceiling"] == ""
    lines = best_table_lines(best.reset_index())
    worry = next(ln.split() for ln in lines if ln.split()[:1] == ["Worry"])
    assert "chance" in worry
    assert "0.380" not in worry
    assert any(ln.startswith("above_ceiling: a test score above its ground-truth ceiling") for ln in lines)
