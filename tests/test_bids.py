"""BIDS in and out: the synthetic cohort as BIDS passes the official validator, reads back what
was written, trains and predicts; bad BIDS input is reported naming the file and what to do."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from legibility.cli import main
from legibility.data.bids import BidsOptions, paper_split, write_bids
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.errors import DataError
from legibility.study import TARGETS


@pytest.fixture(scope="module")
def bids_cohort(tmp_path_factory):
    """`legibility cohort --format bids`: 40 participants at 16^3."""
    out = tmp_path_factory.mktemp("bids") / "data"
    assert main(["cohort", "--out", str(out), "--n", "40", "--side", "16", "--seed", "5", "--regions", "32",
                 "--nodes", "12", "--ceiling_n", "2000", "--workers", "2", "--format", "bids"]) == 0
    return out


@pytest.fixture
def bids_copy(bids_cohort, tmp_path):
    """A private copy that a test may damage."""
    dst = tmp_path / "bids"
    shutil.copytree(bids_cohort, dst, ignore=shutil.ignore_patterns("_cache"))
    return dst


def _validator():
    here = Path(sys.executable).parent / "bids-validator-deno"
    return str(here) if here.exists() else shutil.which("bids-validator-deno")


def test_written_bids_passes_the_validator(bids_cohort):
    exe = _validator()
    if exe is None:
        pytest.skip("bids-validator-deno is not installed")
    run = subprocess.run([exe, "--format", "json", "--recursive", str(bids_cohort)], capture_output=True,
                         text=True, timeout=600)
    issues = json.loads(run.stdout)["issues"]["issues"]
    errors = [i for i in issues if i["severity"] == "error"]
    assert not errors, errors[:3]
    assert {i["code"] for i in issues} <= {"SIDECAR_KEY_RECOMMENDED", "JSON_KEY_RECOMMENDED", "TOO_FEW_AUTHORS"}


def test_layout_of_the_written_dataset(bids_cohort):
    sub = sorted(bids_cohort.glob("sub-*"))[0].name
    assert (bids_cohort / sub / "anat" / f"{sub}_T1w.nii.gz").is_file()
    assert (bids_cohort / sub / "anat" / f"{sub}_FLAIR.nii.gz").is_file()
    deriv = bids_cohort / "derivatives" / "legibility" / sub
    assert (deriv / "dwi" / f"{sub}_space-MNI152NLin2009aSym_desc-FA_dwimap.nii.gz").is_file()
    assert np.loadtxt(deriv / "func" / f"{sub}_task-rest_desc-correlation_relmat.tsv").shape == (12, 12)
    described = json.loads((bids_cohort / "participants.json").read_text())
    assert set(TARGETS) <= set(described)
    assert described["sex"]["Levels"] == {"0": "female", "1": "male"}
    assert described["hb"]["Units"] == "g/dL"
    assert (bids_cohort / "ground_truth.csv").is_file()  # the ceilings travel with the cohort


@pytest.mark.slow
def test_check_train_predict_on_bids(bids_cohort, tmp_path, capsys):
    assert main(["check", "--inpath", str(bids_cohort)]) == 0
    out = capsys.readouterr().out
    assert "(bids layout): 40 participants" in out
    assert main(["train", "--inpath", str(bids_cohort), "--outpath", str(tmp_path), "--target", "sex",
                 "--inputs", "t1", "flair", "connectivity", "--side", "32", "--epochs", "1", "--patience", "1"]) == 0
    model = next(tmp_path.glob("*/best_model.pt")).parent
    pred = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model), "--inpath", str(bids_cohort), "--out", str(pred)]) == 0
    table = pd.read_csv(pred, dtype={"participant_id": str})
    labels = pd.read_csv(bids_cohort / "participants.tsv", sep="\t").participant_id
    assert len(table) == 40
    assert table.participant_id.tolist() == labels.tolist()  # the column and the ids as BIDS writes them


def test_paper_layout_round_trips_through_bids(tiny_cohort, tmp_path):
    paper = load_dataset(tiny_cohort)
    out = write_bids(paper.table, tmp_path / "bids")
    back = load_dataset(out)
    assert back.layout == "bids"
    a = paper.table.set_index("biobank_id").sort_index()
    b = back.table.set_index("biobank_id").sort_index()
    assert a.index.tolist() == b.index.tolist()
    assert (a.split == b.split).all()
    pd.testing.assert_frame_equal(a[list(TARGETS)], b[list(TARGETS)], check_dtype=False)
    pid = a.index[0]
    for m in ("t1", "flair", "dwi"):
        assert np.array_equal(nib.load(a.at[pid, f"path_{m}"]).dataobj, nib.load(b.at[pid, f"path_{m}"]).dataobj)
    ca, cb = build_cache(paper, 32, progress=False), build_cache(back, 32, progress=False)
    order = [cb.table.biobank_id.tolist().index(p) for p in ca.table.biobank_id]
    assert np.allclose(ca.connectivity(), np.asarray(cb.connectivity())[order], atol=1e-6)
    assert np.array_equal(ca.volume_array("t1"), np.asarray(cb.volume_array("t1"))[order])


def test_ids_keep_leading_zeros(tiny_cohort, tmp_path):
    table = load_dataset(tiny_cohort).table.copy()
    table["biobank_id"] = [f"00{i}" for i in range(len(table))]
    back = load_dataset(write_bids(table, tmp_path / "bids"))
    assert back.table.biobank_id.tolist() == table.biobank_id.tolist()


def test_split_rule_without_a_split_column(bids_copy):
    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str).drop(columns="split")
    df.to_csv(tsv, sep="\t", index=False)
    ds = load_dataset(bids_copy)
    assert ds.table.split.value_counts().to_dict() == {"train": 32, "test": 4, "val": 4}
    assert dict(zip(ds.table.biobank_id, ds.table.split, strict=True)) == paper_split(ds.table.biobank_id)
    assert any("paper's rule" in n for n in ds.notes)


def _label(root, i=0):
    return pd.read_csv(root / "participants.tsv", sep="\t", dtype=str).participant_id.iloc[i]


def test_participant_without_images_is_reported(bids_copy):
    sub = _label(bids_copy)
    shutil.rmtree(bids_copy / sub)
    shutil.rmtree(bids_copy / "derivatives" / "legibility" / sub)
    ds = load_dataset(bids_copy)
    pid = sub.removeprefix("sub-")
    assert ds.missing["t1"] == [pid]
    assert ds.missing["connectivity"] == [pid]
    assert any(f"no image or matrix at all (e.g. {sub})" in n for n in ds.notes)
    with pytest.raises(DataError, match="--strict"):
        load_dataset(bids_copy, strict=True)


def test_images_without_a_row_are_reported(bids_copy):
    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str)
    sub = df.participant_id.iloc[0]
    df.iloc[1:].to_csv(tsv, sep="\t", index=False)
    ds = load_dataset(bids_copy)
    assert len(ds.table) == 39
    assert any(f"no row in participants.tsv (e.g. {sub})" in n for n in ds.notes)


def test_two_sessions_take_the_first_unless_told(bids_copy):
    sub, other = _label(bids_copy, 0), _label(bids_copy, 1)
    anat = bids_copy / sub / "anat"
    for ses, src in (("1", anat / f"{sub}_T1w.nii.gz"), ("2", bids_copy / other / "anat" / f"{other}_T1w.nii.gz")):
        dst = bids_copy / sub / f"ses-{ses}" / "anat" / f"{sub}_ses-{ses}_T1w.nii.gz"
        dst.parent.mkdir(parents=True)
        shutil.copyfile(src, dst)
    for f in anat.glob("*"):  # a subject's files all carry a session once it has sessions
        ses1 = bids_copy / sub / "ses-1" / "anat" / f.name.replace(sub, f"{sub}_ses-1")
        shutil.move(f, ses1) if "FLAIR" in f.name else f.unlink()
    ds = load_dataset(bids_copy)
    row = ds.table.set_index("biobank_id").loc[sub.removeprefix("sub-")]
    assert "ses-1" in row.path_t1
    assert any("several sessions or runs of t1" in n and "took the first session" in n for n in ds.notes)
    ds2 = load_dataset(bids_copy, bids=BidsOptions(session="2"))
    row2 = ds2.table.set_index("biobank_id").loc[sub.removeprefix("sub-")]
    assert "ses-2" in row2.path_t1
    assert row2.path_flair == ""
    assert ds2.table.path_t1.str.len().gt(0).all()  # the others have no session: kept


def test_two_runs_take_the_lowest_unless_told(bids_copy, capsys):
    sub = _label(bids_copy)
    t1 = bids_copy / sub / "anat" / f"{sub}_T1w.nii.gz"
    shutil.copyfile(t1, t1.with_name(f"{sub}_run-2_T1w.nii.gz"))
    t1.rename(t1.with_name(f"{sub}_run-1_T1w.nii.gz"))
    row = load_dataset(bids_copy).table.set_index("biobank_id").loc[sub.removeprefix("sub-")]
    assert "run-1" in row.path_t1
    assert main(["check", "--inpath", str(bids_copy), "--bids_run", "2"]) == 0
    assert "runs [1, 2]): took the first session and run 2" in capsys.readouterr().out


def test_a_space_that_is_not_there(bids_copy, capsys):
    with pytest.raises(DataError, match="no dwi image in space-MNI152NLin6Asym. Spaces present: "
                                        "MNI152NLin2009aSym.*--bids_space"):
        load_dataset(bids_copy, bids=BidsOptions(space="MNI152NLin6Asym"))
    assert main(["check", "--inpath", str(bids_copy), "--bids_space", "MNI152NLin6Asym"]) == 1
    assert "Spaces present" in capsys.readouterr().out
    ds = load_dataset(bids_copy, bids=BidsOptions(space="raw"))  # raw: no diffusion map (derivatives only)
    assert ds.table.path_t1.str.len().gt(0).all()
    assert not ds.table.path_dwi.str.len().gt(0).any()


def test_na_cells_are_missing_values_counted_per_column(bids_copy):
    """BIDS writes an unknown value as n/a: an empty cell, left out only of the models that
    need that column (as in the other layouts), and counted by `check`."""
    from legibility.data.checks import missingness

    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str)
    df.loc[2, "hb"] = "n/a"
    df.to_csv(tsv, sep="\t", index=False)
    pid = df.participant_id.iloc[2].removeprefix("sub-")
    table = load_dataset(bids_copy).table.set_index("biobank_id")
    assert np.isnan(table.loc[pid, "hb"])
    assert table.drop(index=pid)["hb"].notna().all()
    gaps = missingness(table.reset_index()).set_index("column")
    assert gaps.loc["hb", "missing"] == 1


def test_bad_participants_file(bids_copy):
    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str)
    df.loc[0, "split"] = "training"
    df.to_csv(tsv, sep="\t", index=False)
    pid = df.participant_id.iloc[0].removeprefix("sub-")
    with pytest.raises(DataError, match=f"Participant {pid} in .*participants.tsv: split is 'training'"):
        load_dataset(bids_copy)
    tsv.unlink()
    with pytest.raises(DataError, match="has no participants.tsv"):
        load_dataset(bids_copy)


def test_a_text_cell_says_how_bids_marks_unknown_values(bids_copy):
    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str)
    df.loc[3, "hb"] = "unknown"
    df.to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataError, match=r"field 'hb' is 'unknown', not a number .* or write n/a when it is unknown"):
        load_dataset(bids_copy)


def test_a_misspelt_column_gets_did_you_mean(bids_copy, tmp_path, capsys):
    tsv = bids_copy / "participants.tsv"
    df = pd.read_csv(tsv, sep="\t", dtype=str).rename(columns={"body_fat": "bodyfat"})
    df.to_csv(tsv, sep="\t", index=False)
    assert main(["check", "--inpath", str(bids_copy)]) == 0
    assert "unknown column 'bodyfat' in participants.tsv (did you mean 'body_fat'?)" in capsys.readouterr().out
    assert main(["train", "--inpath", str(bids_copy), "--outpath", str(tmp_path), "--target", "body_fat",
                 "--inputs", "t1", "--side", "32", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"No participant of {bids_copy} has body_fat" in err  # the dataset, not its cache folder
    assert f"`legibility check --inpath {bids_copy}` names a misspelt column" in err


def test_participants_tsv_alone_is_refused(bids_copy, capsys):
    assert main(["check", "--inpath", str(bids_copy / "participants.tsv")]) == 1
    assert f"alone it has no images. Give the dataset folder: --inpath {bids_copy}" in capsys.readouterr().out


def test_a_misnamed_image_is_named_with_the_name_it_needs(bids_copy, capsys):
    sub = sorted(bids_copy.glob("sub-*"))[0].name
    f = bids_copy / sub / "anat" / f"{sub}_T1w.nii.gz"
    f.rename(f.with_name(f"{sub}_T1.nii.gz"))
    assert main(["check", "--inpath", str(bids_copy)]) == 0
    out = capsys.readouterr().out
    assert f"{sub}_T1.nii.gz (did you mean {sub}_T1w.nii.gz?)" in out
    assert f"1 participant(s) lack t1: {sub.removeprefix('sub-')}" in out
