"""`legibility predict` holds new data against the model's training data: volumes on another grid
with the same field of view are resized (and said so) and predicted as on their own grid; what no
resize fixes is refused naming the file, unless --force; the model's own training and validation
participants are flagged and left out of the scores."""

import numpy as np
import pandas as pd
import pytest
from nilearn.image import resample_img

from legibility.cli import main
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.train import TrainConfig, train_model

# Predictions on 2 mm copies of the volumes against those on the originals, for this 2-epoch model
# at 24^3 (measured: largest gap 3.9 years, MAE 2.97 against 3.32 on the originals; a nearest-
# neighbour round trip alone moves its predictions by up to 2.9 years: it is that sensitive).
TOLERANCE_YEARS = 5.0  # any one participant
TOLERANCE_MAE = 1.0  # the accuracy on the copies against that on the originals


@pytest.fixture(scope="module")
def age_model(tiny_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    cfg = TrainConfig(target="age", inputs=("t1", "flair"), epochs=2, batch_size=8, progress=False, seed=1)
    train_model(build_cache(load_dataset(tiny_cohort), 32, progress=False), cfg, out)
    return out / "age__t1-flair"


def held_out(cohort) -> pd.DataFrame:
    """The cohort's validation and test participants as a manifest table (paths, age)."""
    t = load_dataset(cohort).table
    t = t[t.split != "train"].reset_index(drop=True)
    return pd.DataFrame({"biobank_id": t.biobank_id, "t1": t.path_t1, "flair": t.path_flair, "age": t.age})


def resampled(table, folder, voxel_mm=2.0, crop=1.0):
    """Copies of the volumes on a ``voxel_mm`` grid over the same field of view (``crop`` < 1: a
    smaller one), as a manifest table."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    out = table.copy()
    for m in ("t1", "flair"):
        paths = []
        for pid, p in zip(table.biobank_id, table[m], strict=True):
            img = nib.load(p)
            zooms = np.array(img.header.get_zooms()[:3])
            shape = np.round(np.array(img.shape[:3]) * zooms * crop / voxel_mm).astype(int)
            aff = img.affine.copy()
            aff[:3, :3] = np.diag([voxel_mm] * 3)
            aff[:3, 3] = img.affine[:3, 3] - (zooms - voxel_mm) / 2  # the same corner of the field of view
            new = resample_img(img, target_affine=aff, target_shape=tuple(shape), interpolation="linear",
                               force_resample=True, copy_header=True)
            dst = folder / f"{pid}_{m}.nii.gz"
            nib.save(new, dst)
            paths.append(str(dst))
        out[m] = paths
    return out


def predict_cli(model, table, tmp_path, name, *flags):
    man = tmp_path / f"{name}.csv"
    table.to_csv(man, index=False)
    out = tmp_path / f"{name}_pred.csv"
    rc = main(["predict", "--model", str(model), "--inpath", str(man), "--out", str(out), *flags])
    return rc, (pd.read_csv(out, dtype={"biobank_id": str}) if rc == 0 else None)


def test_volumes_on_a_2mm_grid_are_resampled_and_predicted_as_on_their_own(age_model, tiny_cohort, tmp_path, capsys):
    table = held_out(tiny_cohort)
    rc, own = predict_cli(age_model, table, tmp_path, "own")
    assert rc == 0
    rc, fine = predict_cli(age_model, resampled(table, tmp_path / "2mm"), tmp_path, "fine")
    assert rc == 0
    out = capsys.readouterr().out
    assert "t1 volume(s) were on another grid than the model's training data" in out
    assert "resampled onto the training grid" in out
    assert "resized to 32^3" in out
    gap = np.abs(fine.age_predicted - own.age_predicted)
    assert gap.max() < TOLERANCE_YEARS
    mae = [np.abs(p.age_predicted - p.age_true).mean() for p in (own, fine)]
    assert abs(mae[1] - mae[0]) < TOLERANCE_MAE


def test_another_field_of_view_is_refused_unless_forced(age_model, tiny_cohort, tmp_path, capsys):
    table = resampled(held_out(tiny_cohort), tmp_path / "crop", crop=0.75)
    rc, _ = predict_cli(age_model, table, tmp_path, "crop")
    assert rc == 2
    err = capsys.readouterr().err
    assert "in orientation or field of view, which resampling cannot fix" in err
    assert f"participant {table.biobank_id[0]}: {table.t1[0]}" in err
    assert "--force" in err
    rc, pred = predict_cli(age_model, table, tmp_path, "crop", "--force")
    assert rc == 0
    assert pred.age_predicted.notna().all()


def test_another_intensity_distribution_is_refused(age_model, tiny_cohort, tmp_path, capsys):
    import nibabel as nib

    table = held_out(tiny_cohort)
    img = nib.load(table.t1[0])
    vol = np.asarray(img.dataobj, np.float32)
    vol = vol.max() - vol  # contrast inverted, as a T2 image among T1s
    dst = tmp_path / "inverted_t1.nii.gz"
    nib.save(nib.Nifti1Image(vol, img.affine, img.header), dst)
    table.loc[0, "t1"] = str(dst)
    rc, _ = predict_cli(age_model, table, tmp_path, "inverted")
    assert rc == 2
    err = capsys.readouterr().err
    assert "1 t1 volume(s) have an intensity distribution unlike the model's training data" in err
    assert "inverted_t1.nii.gz" in err


def test_training_participants_are_flagged_and_left_out_of_the_scores(age_model, tiny_cohort, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(age_model), "--inpath", str(tiny_cohort), "--out", str(out)]) == 0
    pred = pd.read_csv(out, dtype={"biobank_id": str}, keep_default_na=False)
    split = load_dataset(tiny_cohort).table.set_index("biobank_id").split
    expected = split.reindex(pred.biobank_id).replace({"test": ""}).tolist()
    assert pred.model_split.tolist() == expected
    text = capsys.readouterr().out
    n_seen = int((pred.model_split != "").sum())
    assert f"{n_seen} participant(s) were in the model's training or validation split" in text
    assert pd.read_csv(tmp_path / "pred_scores.csv").n.iloc[0] == len(pred) - n_seen
    assert main(["predict", "--model", str(age_model), "--inpath", str(tiny_cohort), "--out", str(out),
                 "--score_training"]) == 0
    assert pd.read_csv(tmp_path / "pred_scores.csv").n.iloc[0] == len(pred)


def test_metadata_in_other_units_and_another_parcellation_are_refused(tiny_cohort, tmp_path, capsys):
    cache = build_cache(load_dataset(tiny_cohort), 32, progress=False)
    fast = dict(epochs=1, batch_size=8, progress=False, seed=1)
    train_model(cache, TrainConfig(target="hb", inputs=("metadata",), metadata_blocks=("constitutional",), **fast),
                tmp_path)
    train_model(cache, TrainConfig(target="age", inputs=("connectivity",), **fast), tmp_path)
    t = load_dataset(tiny_cohort).table
    new = t[["biobank_id", "sex", "age", "weight", "handedness"]].copy()
    new["weight"] = new.weight * 2.2046  # pounds
    rc, _ = predict_cli(tmp_path / "hb__meta-c", new, tmp_path, "pounds")
    assert rc == 2
    assert "field 'weight': median" in capsys.readouterr().err
    folder = tmp_path / "conn"
    folder.mkdir()
    refs = []
    for pid, ref in zip(t.biobank_id, t.path_connectivity, strict=True):
        f, _, row = ref.partition("::")
        np.save(folder / f"{pid}.npy", np.load(f)[int(row)][:12, :12])  # 12 nodes where training had 20
        refs.append(str(folder / f"{pid}.npy"))
    new = pd.DataFrame({"biobank_id": t.biobank_id, "connectivity": refs})
    rc, _ = predict_cli(tmp_path / "age__connectivity", new, tmp_path, "parcellation")
    assert rc == 2
    assert "are 12 x 12; the model was trained on 20 x 20" in capsys.readouterr().err
