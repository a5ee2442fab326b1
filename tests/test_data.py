"""Layouts, input checks and the cache: bad input gets a clear error and loses nothing."""

import gzip
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
from legibility.data.sources import normalise_volume
from legibility.errors import DataError


@pytest.fixture
def cohort(tiny_cohort, tmp_path):
    """A private copy of the tiny cohort that a test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(tiny_cohort, dst, ignore=shutil.ignore_patterns("_cache"))
    return dst


def first_id(root, folder="TRAIN"):
    return pd.read_csv(paths.metadata_path(root, folder)).biobank_id.iloc[0]


def test_splits_follow_the_paper(cohort):
    ds = load_dataset(cohort)
    counts = ds.table.split.value_counts().to_dict()
    assert counts == {"train": 32, "test": 4, "val": 4}
    test_ids = sorted(pd.read_csv(paths.metadata_path(cohort, "TEST")).biobank_id.astype(str),
                      key=int)
    assert ds.split("test").biobank_id.tolist() == test_ids[0::2]
    assert ds.split("val").biobank_id.tolist() == test_ids[1::2]


def test_check_command_reports_counts(cohort, capsys):
    assert main(["check", "--inpath", str(cohort)]) == 0
    out = capsys.readouterr().out
    assert "40 participants" in out
    assert "train" in out


def test_missing_modality_reported_and_strict_fails(cohort):
    pid = first_id(cohort)
    paths.volume_path(cohort, "TRAIN", "dwi", pid).unlink()
    ds = load_dataset(cohort)
    assert ds.missing["dwi"] == [str(pid)]
    assert f"1 participant(s) lack dwi: {pid}" in ds.report()
    assert not ds.complete(["t1", "dwi"]).all()
    assert ds.complete(["t1", "flair"]).all()
    with pytest.raises(DataError, match=f"lack dwi .*{pid}.*--strict"):
        load_dataset(cohort, strict=True)


def test_unreadable_nifti_names_the_file(cohort):
    pid = first_id(cohort)
    p = paths.volume_path(cohort, "TRAIN", "t1", pid)
    p.write_bytes(b"not a nifti at all")
    with pytest.raises(DataError, match=f"Participant {pid}: t1 volume .*{p.name}.* not a readable"):
        load_dataset(cohort)


def test_truncated_gzip_names_the_file(cohort):
    pid = first_id(cohort)
    p = paths.volume_path(cohort, "TRAIN", "flair", pid)
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])  # the header survives, the data do not
    ds = load_dataset(cohort)
    with pytest.raises(DataError, match=f"Participant {pid}: could not decode flair .*truncated"):
        build_cache(ds, 32, progress=False)
    assert not list((cohort / "_cache").glob("side32-*"))  # nothing half-written left in use


def test_another_shape_and_field_of_view_is_warned_and_refused_when_strict(cohort):
    pid = first_id(cohort)
    p = paths.volume_path(cohort, "TRAIN", "t1", pid)
    nib.save(nib.Nifti1Image(np.zeros((20, 24, 24), np.int16), np.eye(4)), p)
    with pytest.warns(UserWarning, match=f"participant {pid}: t1 volume .* has 20 x 24 x 24 voxels of 1 x 1 x 1 mm.*"
                                         "Resizing cannot fix this"):
        load_dataset(cohort)
    with pytest.raises(DataError, match="refused under --strict"):
        load_dataset(cohort, strict=True)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("age", "sixty", "metadata_test.csv: field 'age' is 'sixty', not a number"),
    ("age", -1, "field 'age' is -1; it must be between 18 and 110 years"),
    ("sex", 2, "field 'sex' is 2; it must be 0 or 1"),
    ("hb", 140, "field 'hb' is 140.*Check the units"),
])
def test_bad_metadata_names_participant_and_field(cohort, field, value, message):
    mp = paths.metadata_path(cohort, "TEST")
    meta = pd.read_csv(mp)
    meta[field] = meta[field].astype(object)
    meta.loc[2, field] = value
    meta.to_csv(mp, index=False)
    with pytest.raises(DataError, match=f"Participant {meta.biobank_id[2]} .*{message}"):
        load_dataset(cohort)


def test_missing_metadata_file(cohort):
    paths.metadata_path(cohort, "TRAIN").unlink()
    with pytest.raises(DataError, match="metadata_train.csv is missing.*biobank_id"):
        load_dataset(cohort)


def test_empty_split(cohort):
    mp = paths.metadata_path(cohort, "TEST")
    pd.read_csv(mp).iloc[:0].to_csv(mp, index=False)
    with pytest.raises(DataError, match="no participants: the TEST split is empty"):
        load_dataset(cohort)


def test_unknown_column_reported_with_closest_known(cohort):
    mp = paths.metadata_path(cohort, "TRAIN")
    meta = pd.read_csv(mp)
    meta["wieght_kg"] = 1.0
    meta.to_csv(mp, index=False)
    with pytest.warns(UserWarning, match="unknown column 'wieght_kg'.*did you mean 'weight'"):
        ds = load_dataset(cohort)
    assert "wieght_kg" in ds.report()


def test_cli_error_is_one_clear_line(cohort, capsys):
    paths.metadata_path(cohort, "TRAIN").unlink()
    assert main(["check", "--inpath", str(cohort)]) == 1
    out, err = capsys.readouterr()
    assert "metadata_train.csv is missing" in out
    assert err.startswith("legibility check: 1 error(s) in")
    assert "Traceback" not in out + err


def test_manifest_layout(cohort, tmp_path):
    ds = load_dataset(cohort)
    rows = ds.table.copy()
    man = rows[["biobank_id", "split", *[c for c in rows.columns if c in ds.table.columns
                                          and not c.startswith("path_") and c not in
                                          ("biobank_id", "split")]]].copy()
    for m in ("t1", "flair", "dwi"):
        man[m] = rows[f"path_{m}"]
    conn_dir = tmp_path / "conn"
    conn_dir.mkdir()
    man["connectivity"] = ""
    for i, ref in enumerate(rows.path_connectivity):
        f, _, r = ref.partition("::")
        out = conn_dir / f"{rows.biobank_id[i]}.npy"
        np.save(out, np.load(f)[int(r)])
        man.loc[i, "connectivity"] = str(out)
    csv = tmp_path / "manifest.csv"
    man.to_csv(csv, index=False)
    ds2 = load_dataset(csv)
    assert ds2.layout == "manifest"
    assert ds2.table.split.value_counts().to_dict() == ds.table.split.value_counts().to_dict()
    c1, c2 = build_cache(ds, 32, progress=False), build_cache(ds2, 32, progress=False)
    np.testing.assert_array_equal(np.asarray(c1.volume_array("t1")), np.asarray(c2.volume_array("t1")))
    np.testing.assert_array_equal(np.asarray(c1.connectivity()), np.asarray(c2.connectivity()))


def test_cache_contents_and_normalisation(cohort):
    ds = load_dataset(cohort)
    c = build_cache(ds, 32, progress=False)
    vols = np.asarray(c.volume_array("dwi"), np.float32)
    assert vols.shape == (40, 32, 32, 32)
    assert c.volume_array("dwi").dtype == np.float16
    assert np.allclose(vols.min(axis=(1, 2, 3)), -1)
    assert np.allclose(vols.max(axis=(1, 2, 3)), 1)
    assert c.connectivity().shape == (40, 20 * 19 // 2)
    assert c.table.biobank_id.tolist() == ds.table.biobank_id.tolist()
    v = np.random.default_rng(0).normal(5, 3, (8, 8, 8))
    n = normalise_volume(v)
    assert n.min() == pytest.approx(-1)
    assert n.max() == pytest.approx(1)


def test_cache_reused_then_rebuilt_on_change(cohort):
    ds = load_dataset(cohort)
    c1 = build_cache(ds, 32, progress=False)
    assert build_cache(ds, 32, progress=False).path == c1.path  # reused
    pid = first_id(cohort)
    p = paths.volume_path(cohort, "TRAIN", "t1", pid)
    img = nib.load(p)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj) // 2, img.affine), p)  # a source changes
    c2 = build_cache(load_dataset(cohort), 32, progress=False)
    assert c2.path != c1.path
    assert build_cache(ds, 64, progress=False).path not in (c1.path, c2.path)  # option change


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def overwrite_middle(path):  # same size, other bytes: only the checksum tells
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "name"), [(truncate, "t1.npy"), (overwrite_middle, "connectivity.npy")])
def test_a_damaged_cache_file_is_named_and_the_cache_rebuilt(cohort, capsys, damage, name):
    ds = load_dataset(cohort)
    c = build_cache(ds, 32, progress=False)
    whole = (c.path / name).read_bytes()
    t1, conn = np.asarray(c.volume_array("t1")).copy(), np.asarray(c.connectivity()).copy()
    damage(c.path / name)
    capsys.readouterr()
    again = build_cache(ds, 32, progress=False)
    assert f"{c.path / name} is damaged" in capsys.readouterr().err
    assert again.path == c.path
    assert (again.path / name).read_bytes() == whole
    np.testing.assert_array_equal(again.volume_array("t1"), t1)
    np.testing.assert_array_equal(again.connectivity(), conn)
    assert [p.name for p in (cohort / "_cache").iterdir() if p.name.startswith(".")] == []


def test_interrupted_build_leaves_nothing_in_use(cohort, monkeypatch):
    ds = load_dataset(cohort)
    calls = {"n": 0}
    real = cache_mod.load_volume

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt  # the user presses Ctrl-C mid-build
        return real(*a, **k)

    monkeypatch.setattr(cache_mod, "load_volume", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_cache(ds, 32, progress=False, workers=1)
    assert not list((cohort / "_cache").iterdir())  # no cache, no temporary left
    monkeypatch.setattr(cache_mod, "load_volume", real)
    c = build_cache(ds, 32, progress=False)
    assert (c.path / cache_mod.COMPLETE).exists()


def test_gzip_sanity_of_written_volumes(cohort):
    p = paths.volume_path(cohort, "TRAIN", "t1", first_id(cohort))
    with gzip.open(p) as f:
        assert len(f.read()) > 24**3
