"""The study's definitions against the paper's published table."""

import pytest

from legibility import study
from legibility.cli import main


def test_grid_equals_published_pairs_exactly(published_table, tmp_path):
    out = tmp_path / "grid.csv"
    assert main(["grid", "--out", str(out)]) == 0
    import pandas as pd

    ours = pd.read_csv(out)
    assert len(ours) == 700
    assert set(zip(ours.Target, ours.Inputs, strict=True)) == set(
        zip(published_table.Target, published_table.Inputs, strict=True))
    assert not ours.duplicated(["Target", "Inputs"]).any()


def test_grid_flags_and_domains_match_published(published_table):
    ours = study.grid_table().set_index(["Target", "Inputs"])
    theirs = published_table.set_index(["Target", "Inputs"]).loc[ours.index]
    for col in (*study.FLAG_COLUMNS, "Domain"):
        assert (ours[col] == theirs[col]).all(), col


def test_grid_counts_per_domain():
    counts = study.grid_table().groupby("Domain").size().to_dict()
    assert counts == {"Constitutional": 28, "Disease": 160, "Serology": 128, "Psychology": 384}


def test_targets_accept_keys_and_paper_spellings():
    assert [t.key for t in study.TARGETS.values()][:4] == ["sex", "age", "weight", "handedness"]
    assert study.target("Hb").key == "hb"
    assert study.target("HDL").key == "hdl"
    assert study.target("LDL").key == "ldl"
    assert study.target("Sex (Male)").key == "sex"
    assert len(study.TARGETS) == 25


def test_unknown_target_names_closest_and_lists_valid():
    with pytest.raises(KeyError, match="Did you mean 'age'.*Valid targets: sex, age"):
        study.target("agee")


@pytest.mark.parametrize("label", sorted({lab for _, s in study.grid() for lab in [s.label]}))
def test_inputs_label_round_trips(label):
    assert study.parse_inputs_label(label).label == label


def test_display_names_match_published(published_table):
    assert {t.display for t in study.TARGETS.values()} == set(published_table.Target)
    assert list(published_table.columns) == list(study.METRIC_COLUMNS)
