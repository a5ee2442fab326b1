"""Real cohorts are messy (issue 13): gaps, unlabelled participants, odd ids, corrupt files and
tables as people write them. Each test breaks a copy of the tiny cohort, written as real files,
the way its case says, and checks that nothing is lost and every refusal names file and participant."""

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from legibility import paths
from legibility.cli import main
from legibility.data import cache as cache_mod
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.errors import DataError
from legibility.study import TARGETS
from legibility.train import TrainConfig, train_model

TARGET_KEYS = list(TARGETS)


@pytest.fixture
def cohort(tiny_cohort, tmp_path):
    """A private copy of the tiny cohort that a test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_cohort, dst, ignore=shutil.ignore_patterns("_cache"))
    return dst


def write_manifest(cohort, out, ids=None, id_name="biobank_id", columns=None, split=True, sep=",",
                   connectivity=False):
    """A manifest of the cohort's participants: ids (renamed when given), split, image paths,
    per-participant connectivity .npy files, and the chosen characteristic columns."""
    table = load_dataset(cohort).table
    man = pd.DataFrame({id_name: ids if ids is not None else table.biobank_id})
    if split:
        man["split"] = table.split
    for m in ("t1", "flair", "dwi"):
        man[m] = table[f"path_{m}"]
    if connectivity:
        folder = out.parent / "conn"
        folder.mkdir(exist_ok=True)
        refs = []
        for pid, ref in zip(man[id_name], table.path_connectivity, strict=True):
            f, _, r = ref.partition("::")
            np.save(folder / f"{pid}.npy", np.load(f)[int(r)])
            refs.append(str(folder / f"{pid}.npy"))
        man["connectivity"] = refs
    for c in columns if columns is not None else [c for c in table.columns if c in TARGET_KEYS]:
        man[c] = table[c]
    man.to_csv(out, index=False, sep=sep)
    return man


def fast(**kw):
    base = dict(target="age", inputs=("t1", "flair"), epochs=1, batch_size=8, progress=False, seed=1)
    return TrainConfig(**{**base, **kw})


# ---------------------------------------------------------------- 1. predict on unlabelled people
def test_predict_needs_only_ids_and_image_paths(cohort, tmp_path, capsys):
    train_model(build_cache(load_dataset(cohort), 32, progress=False), fast(), tmp_path / "m")
    model = tmp_path / "m" / "age__t1-flair"
    ids = [f"{i:07d}" for i in range(1, 41)]  # leading zeros, as many registries write them
    new = tmp_path / "new" / "people.csv"
    new.parent.mkdir()
    write_manifest(cohort, new, ids=ids, id_name="subject_id", columns=[], split=False)
    assert main(["check", "--inpath", str(new)]) == 1  # no split: not data to train on...
    assert "needs a 'split' column" in capsys.readouterr().out
    assert main(["check", "--inpath", str(new), "--predict"]) == 0  # ...but fine to predict on
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model), "--inpath", str(new), "--out", str(out)]) == 0
    pred = pd.read_csv(out, dtype={"subject_id": str})
    assert pred.subject_id.tolist() == ids  # one row each, ids exactly as given, the user's column name
    assert pred.age_predicted.between(20, 110).all()
    assert "age_true" not in pred.columns
    assert not (tmp_path / "pred_scores.csv").exists()
    # with the target present, the scores come too
    write_manifest(cohort, new, ids=ids, id_name="subject_id", columns=["age"], split=False)
    assert main(["predict", "--model", str(model), "--inpath", str(new), "--out", str(out)]) == 0
    assert "scores on the 40 participants" in capsys.readouterr().out
    scores = pd.read_csv(tmp_path / "pred_scores.csv")
    assert scores.n.iloc[0] == 40
    assert np.isfinite(scores.MAE.iloc[0])


def test_predict_metadata_model_needs_only_its_blocks(cohort, tmp_path):
    train_model(build_cache(load_dataset(cohort), 32, progress=False),
                fast(target="hb", inputs=("metadata",), metadata_blocks=("constitutional",)), tmp_path / "m")
    new = tmp_path / "people.csv"
    man = write_manifest(cohort, new, columns=["sex", "age", "weight", "handedness"], split=False)
    man.loc[5, "weight"] = np.nan
    man.to_csv(new, index=False)
    pred = predict_cli(tmp_path / "m" / "hb__meta-c", new, tmp_path / "p.csv")
    assert len(pred) == 40
    assert pred.hb_predicted.isna().tolist() == [i == 5 for i in range(40)]
    assert pred.lacking[5] == "weight"


def predict_cli(model, inpath, out):
    assert main(["predict", "--model", str(model), "--inpath", str(inpath), "--out", str(out)]) == 0
    return pd.read_csv(out, dtype={"biobank_id": str}, keep_default_na=False, na_values=[""])


# ---------------------------------------------------------------- 2. one empty cell blocks nothing
def test_age_model_trains_with_ten_percent_of_worry_empty(cohort, tmp_path, capsys):
    blanks = 0
    for folder in ("TRAIN", "TEST"):
        mp = paths.metadata_path(cohort, folder)
        meta = pd.read_csv(mp, dtype={"biobank_id": str})
        k = 3 if folder == "TRAIN" else 1
        meta.loc[: k - 1, "worry"] = np.nan  # 4 of 40 = 10% of the worry cells
        blanks += k
        meta.to_csv(mp, index=False)
    assert main(["check", "--inpath", str(cohort)]) == 0
    out = capsys.readouterr().out
    assert "empty characteristic cells" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("worry"))
    assert line.split()[:3] == ["worry", "4", "10.0"]
    assert main(["train", "--inpath", str(cohort), "--outpath", str(tmp_path), "--target", "age",
                 "--inputs", "t1", "flair", "--epochs", "1", "--batch_size", "8"]) == 0
    assert "participants: 32 train, 4 val, 4 test" in capsys.readouterr().out  # worry is no input of age
    m = pd.read_csv(tmp_path / "age__t1-flair" / "metrics.csv")
    assert (m.n_train.iloc[0], m.n_val.iloc[0], m.n_test.iloc[0]) == (32, 4, 4)
    c = build_cache(load_dataset(cohort), 32, progress=False)
    # a model that reads the psychology block leaves out exactly the 4, and says so
    with pytest.warns(UserWarning, match="4 left out for lacking hb or an input: 3 train"):
        train_model(c, fast(target="hb", inputs=("metadata",), metadata_blocks=("psychology",)), tmp_path)
    m = pd.read_csv(tmp_path / "hb__meta-p" / "metrics.csv")
    assert m.n_train.iloc[0] == 29
    assert m.n_val.iloc[0] + m.n_test.iloc[0] == 7
    assert m.n_left_out_train.iloc[0] == 3


# ---------------------------------------------------------------- 3. ids as text, the user's column name
def test_ids_keep_their_zeros_and_column_name(cohort, tmp_path):
    ids = [f"{i:07d}" for i in range(1, 41)]
    man = tmp_path / "manifest.csv"
    write_manifest(cohort, man, ids=ids, id_name="subject_id")
    ds = load_dataset(man)
    assert ds.id_name == "subject_id"
    assert ds.table.biobank_id.tolist() == ids
    c = build_cache(ds, 32, progress=False)
    assert c.table.biobank_id.tolist() == ids
    assert c.id_name == "subject_id"
    train_model(c, fast(), tmp_path)
    preds = pd.read_csv(tmp_path / "age__t1-flair" / "test_predictions.csv", dtype=str)
    assert preds.columns[0] == "subject_id"
    assert set(preds.subject_id) <= set(ids)
    assert all(len(i) == 7 and i.startswith("00000") for i in preds.subject_id)


def test_paper_layout_ids_with_leading_zeros_find_their_files(cohort):
    for folder in ("TRAIN", "TEST"):
        mp = paths.metadata_path(cohort, folder)
        meta = pd.read_csv(mp, dtype={"biobank_id": str})
        for pid in meta.biobank_id:
            for m in ("t1", "flair", "dwi"):
                p = paths.volume_path(cohort, folder, m, pid)
                p.rename(paths.volume_path(cohort, folder, m, "00" + pid))
        meta["biobank_id"] = "00" + meta.biobank_id
        meta.to_csv(mp, index=False)
        npy, txt = paths.fmri_paths(cohort, folder)
        txt.write_text("".join(f"00{ln}\n" for ln in txt.read_text().split()))
    ds = load_dataset(cohort)
    assert ds.table.biobank_id.str.startswith("00").all()
    assert not ds.missing  # every volume found under its zero-padded id


# ---------------------------------------------------------------- 4. check refuses what train would
def _truncate(cohort, tmp_path):
    pid = first(cohort)
    p = paths.volume_path(cohort, "TRAIN", "flair", pid)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    return cohort, pid, p.name


def _nan_voxels(cohort, tmp_path):
    pid = first(cohort)
    p = paths.volume_path(cohort, "TRAIN", "t1", pid)
    img = nib.load(p)
    vol = np.asarray(img.dataobj, np.float32)
    vol[3, 3, 3] = np.nan
    nib.save(nib.Nifti1Image(vol, img.affine), p)
    return cohort, pid, p.name


def _odd_matrix(cohort, tmp_path):
    man = tmp_path / "manifest.csv"
    table = write_manifest(cohort, man, connectivity=True)
    pid = table.biobank_id[7]
    f = tmp_path / "conn" / f"{pid}.npy"
    np.save(f, np.load(f)[:18, :18])  # 18 x 18 among 20 x 20 (as 90 x 90 among 100 x 100)
    return man, pid, f.name


def _nan_matrix(cohort, tmp_path):
    npy, txt = paths.fmri_paths(cohort, "TEST")
    arr = np.load(npy)
    arr[2, 0, 1] = np.nan
    np.save(npy, arr)
    return cohort, txt.read_text().split()[2], npy.name


@pytest.mark.parametrize("breakage", [_truncate, _nan_voxels, _odd_matrix, _nan_matrix])
def test_check_refuses_first_what_train_would_refuse(cohort, tmp_path, capsys, breakage):
    inpath, pid, fname = breakage(cohort, tmp_path)
    assert main(["check", "--inpath", str(inpath)]) == 1
    out = capsys.readouterr().out
    assert f"Participant {pid}" in out or f"participant {pid}" in out
    assert fname in out
    with pytest.raises(DataError, match=pid):  # train refuses the same, by the same functions
        build_cache(load_dataset(inpath), 32, progress=False)


def test_second_check_decodes_nothing(cohort, monkeypatch, capsys):
    calls = []
    real = cache_mod.load_volume
    monkeypatch.setattr(cache_mod, "load_volume", lambda *a: calls.append(a[0]) or real(*a))
    assert main(["check", "--inpath", str(cohort)]) == 0
    assert sorted(calls) == sorted(set(calls))
    assert len(calls) == 120
    calls.clear()
    assert main(["check", "--inpath", str(cohort)]) == 0
    assert calls == []
    assert "verdict kept" in capsys.readouterr().out
    p = paths.volume_path(cohort, "TRAIN", "t1", first(cohort))
    p.write_bytes(p.read_bytes()[:-200])  # a file changes: the verdict no longer applies
    assert main(["check", "--inpath", str(cohort)]) == 1
    assert p.name in capsys.readouterr().out


def test_cache_build_leaves_a_verdict_for_check(cohort):
    from legibility.data.cache import verify_sources

    ds = load_dataset(cohort)
    build_cache(ds, 32, progress=False)
    assert verify_sources(ds, progress=False)["reused"]


# ---------------------------------------------------------------- 5. odd grids and units
def test_volume_on_another_grid_is_reported_and_refused_when_strict(cohort, capsys):
    pid = first(cohort)
    p = paths.volume_path(cohort, "TRAIN", "dwi", pid)
    img = nib.load(p)
    aff = np.diag([-2.0, 2.0, 2.0, 1.0])  # 2 mm voxels, flipped: another grid
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), aff), p)
    with pytest.warns(UserWarning, match=f"1 volume.* differ .*participant {pid}: dwi volume .*2 x 2 x 2 mm"):
        load_dataset(cohort)
    assert main(["check", "--inpath", str(cohort)]) == 0
    assert "LAS orientation" in capsys.readouterr().out
    assert main(["check", "--inpath", str(cohort), "--strict"]) == 1
    assert "--strict" in capsys.readouterr().out


@pytest.mark.parametrize(("field", "convert", "unit"), [
    ("weight", lambda v: v * 2.2046, "pounds"),
    ("hb", lambda v: v * 0.6206, "mmol/L"),
])
def test_plausible_values_in_another_unit_are_warned(cohort, field, convert, unit):
    for folder in ("TRAIN", "TEST"):
        mp = paths.metadata_path(cohort, folder)
        meta = pd.read_csv(mp)
        meta[field] = convert(meta[field])
        meta.to_csv(mp, index=False)
    with pytest.warns(UserWarning, match=f"field '{field}' .*look like {unit}"):
        ds = load_dataset(cohort)
    assert unit in ds.report()


def test_out_of_range_values_name_the_likely_unit(cohort):
    mp = paths.metadata_path(cohort, "TRAIN")
    meta = pd.read_csv(mp)
    meta["hba1c"] = meta.hba1c / 10.929 + 2.15  # HbA1c in % rather than mmol/mol
    meta.to_csv(mp, index=False)
    with pytest.raises(DataError, match=r"field 'hba1c' .*must be between 10 and 200 mmol/mol.*looks like %"):
        load_dataset(cohort)


# ---------------------------------------------------------------- 9. inputs as people write them
def test_semicolon_manifest_with_decimal_commas(cohort, tmp_path):
    comma = tmp_path / "comma.csv"
    write_manifest(cohort, comma)
    semi = tmp_path / "semi.csv"
    text = pd.read_csv(comma, dtype=str).apply(lambda col: col.str.replace(".", ",", regex=False)
                                               if col.name in TARGET_KEYS else col)
    text.to_csv(semi, sep=";", index=False)
    a, b = load_dataset(comma).table, load_dataset(semi).table
    pd.testing.assert_frame_equal(a[TARGET_KEYS], b[TARGET_KEYS])


def test_uk_biobank_export_points_to_the_import_command(cohort, tmp_path):
    ukb = tmp_path / "ukb.csv"
    pd.DataFrame({"eid": ["1000001", "1000002"], "31-0.0": [0, 1], "21003-2.0": [61, 70],
                  "split": ["train", "test"]}).to_csv(ukb, index=False)
    with pytest.raises(DataError, match="UK Biobank export .*31-0.0.*`legibility ukb`"):
        load_dataset(ukb)


def test_grid_csv_with_input_keys(tmp_path):
    from legibility.study import parse_inputs_label
    from legibility.sweep import load_grid

    grid = tmp_path / "grid.csv"
    pd.DataFrame({"Target": ["age", "Hb", "worry"],
                  "Inputs": ["connectivity", "t1 flair", "DWI + Non-imaging data (C + D)"]}).to_csv(grid, index=False)
    got = load_grid(str(grid))
    assert [t.key for t, _ in got] == ["age", "hb", "worry"]
    assert got[0][1] == parse_inputs_label("rsfMRI Connectivity")
    assert got[1][1] == parse_inputs_label("FLAIR + T1")
    assert got[2][1] == parse_inputs_label("DWI + Non-imaging data (C + D)")


def first(root, folder="TRAIN"):
    return pd.read_csv(paths.metadata_path(root, folder), dtype={"biobank_id": str}).biobank_id.iloc[0]


# ---------------------------------------------------------------- 10. check lists every problem at once
def test_check_lists_every_problem_in_one_pass(cohort, capsys):
    train, test = (pd.read_csv(paths.metadata_path(cohort, f), dtype={"biobank_id": str}) for f in ("TRAIN", "TEST"))
    a, b, c = train.biobank_id[1], train.biobank_id[2], test.biobank_id[0]
    train[["weight", "sex"]] = train[["weight", "sex"]].astype(object)
    train.loc[1, "weight"] = "heavy"
    train.loc[2, "sex"] = "M"
    train.to_csv(paths.metadata_path(cohort, "TRAIN"), index=False)
    p = paths.volume_path(cohort, "TEST", "flair", c)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    t1 = paths.volume_path(cohort, "TRAIN", "t1", a)
    t1.rename(t1.with_name(f"{a}_T1.nii.gz"))  # misnamed: a warning, the participant lacks t1
    assert main(["check", "--inpath", str(cohort)]) == 1
    out = capsys.readouterr().out
    errors, warns = out.index("errors (3):"), out.index("warnings (")
    assert errors < warns
    for needle in (f"Participant {a} in", "'heavy'", f"Participant {b} in", "'M'",
                   f"Participant {c}: could not decode"):
        assert errors < out.index(needle) < warns, needle
    assert "metadata_train.csv (2):" in out  # grouped by file, with counts
    assert out.index(f"{a}_T1.nii.gz (did you mean {a}_t1.nii.gz?)") > warns


def test_binary_field_as_text_names_its_coding(cohort):
    mp = paths.metadata_path(cohort, "TRAIN")
    meta = pd.read_csv(mp, dtype={"biobank_id": str})
    meta["sex"] = np.where(meta.sex == 1, "M", "F")
    meta.to_csv(mp, index=False)
    coding = r"field 'sex' is '[MF]', not a number .* Write 0 or 1 \(1 = male, 0 otherwise\)"
    with pytest.raises(DataError, match=coding):
        load_dataset(cohort)


def test_a_bad_split_value_names_the_participant(cohort, tmp_path):
    man = tmp_path / "manifest.csv"
    table = write_manifest(cohort, man)
    table.loc[4, "split"] = "validation"
    table.to_csv(man, index=False)
    with pytest.raises(DataError, match=f"Participant {table.biobank_id[4]} in .*manifest.csv: split is "
                                        f"'validation' \\(1 participant"):
        load_dataset(man)


def test_a_metadata_table_alone_is_refused(cohort, capsys):
    assert main(["check", "--inpath", str(paths.metadata_path(cohort, "TRAIN"))]) == 1
    assert f"alone it has no images. Give the dataset folder: --inpath {cohort}" in capsys.readouterr().out


def test_volumes_of_another_shape_on_the_same_field_of_view_are_used(cohort, capsys):
    """A volume on a coarser grid covering the same field of view: the cache resizes it."""
    from nilearn.image import resample_img

    pid = first(cohort)
    p = paths.volume_path(cohort, "TRAIN", "dwi", pid)
    img = nib.load(p)
    coarse = resample_img(img, target_affine=img.affine @ np.diag([2, 2, 2, 1]), target_shape=(12, 12, 12),
                          interpolation="linear", force_resample=True, copy_header=True)
    nib.save(coarse, p)
    assert main(["check", "--inpath", str(cohort), "--strict"]) == 0
    assert "the cache resizes every volume to the working side, so they are used" in capsys.readouterr().out
    assert build_cache(load_dataset(cohort), 32, progress=False).has("dwi").all()


# ---------------------------------------------------------------- 11. options refused at once
def test_options_later_steps_refuse_are_refused_at_once(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["cohort", "--out", str(tmp_path / "c"), "--side", "33"])
    assert "33 is not a cohort side" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert main(["env", "--inpath", str(tmp_path / "absent")]) == 2
    assert f"--inpath {tmp_path / 'absent'} does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--target TARGET", "--inputs INPUTS [INPUTS ...]", "--inpath INPATH"):
        assert f"{flag} required (unless --hello_world)" in text, flag
