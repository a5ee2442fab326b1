"""UK Biobank: an extract and bulk imaging made in UK Biobank's own shape from a synthetic cohort
convert back to the same characteristics, check and train; the field table is complete."""

import shutil
import zipfile

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from legibility.cli import main
from legibility.data import ukb
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.errors import DataError
from legibility.study import TARGETS

NEURO = {"mood_swings": 1920, "miserableness": 1930, "irritability": 1940, "sensitivity": 1950, "fed_up": 1960,
         "nervous": 1970, "anxious": 1980, "tense": 1990, "worry": 2000, "lonely": 2020, "guilty": 2030}
MEASURED = {"weight": "21002-2.0", "body_fat": "23099-2.0", "hb": "30020-0.0", "hba1c": "30750-0.0",
            "hdl": "30760-0.0", "ldl": "30780-0.0", "reaction_time": "20023-2.0"}
OTHER_ILLNESSES = [1226, 1465, 1154, 1473]  # codes of 20002 that are none of ours


def _netmat_vector(mat):
    """Above-diagonal values taken column by column (as UK Biobank stores network matrices)."""
    r = len(mat)
    return mat.T[np.tril_indices(r, -1)]


def make_extract(table, rng):
    """An extract in UK Biobank's shape holding the characteristics of ``table``."""
    n = len(table)
    ex = pd.DataFrame({"eid": table.biobank_id.to_numpy()})
    ex["31-0.0"] = table.sex.astype(int).to_numpy()
    ex["21003-2.0"] = table.age.to_numpy()
    for key, col in MEASURED.items():
        ex[col] = table[key].to_numpy()
    ex["21002-0.0"] = table.weight.to_numpy() + 5.0  # recruitment: not used when the imaging visit answered
    right = table.handedness.to_numpy() == 1
    ex["1707-0.0"] = np.where(right, 1, rng.choice([2, 3], n))
    ex["1707-2.0"] = np.where(rng.random(n) < 0.2, -3, ex["1707-0.0"])  # prefer not: falls back to instance 0
    ever = table.smoking.to_numpy() == 1
    ex["20116-0.0"] = np.where(ever, rng.choice([1, 2], n), 0)
    ex["20116-2.0"] = np.where(ever & (rng.random(n) < 0.5), 1, ex["20116-0.0"])
    for key, fid in NEURO.items():
        v = table[key].astype(int).to_numpy()
        dk = rng.random(n) < 0.15
        ex[f"{fid}-0.0"] = v
        ex[f"{fid}-2.0"] = np.where(dk, rng.choice([-1, -3], n), v)  # do not know: the earlier answer is used
    verbal = np.full((n, 34), np.nan)
    screen_vasc = np.full((n, 4), np.nan)
    screen_resp = np.full((n, 5), np.nan)
    for i, row in enumerate(table.itertuples()):
        codes = list(rng.choice(OTHER_ILLNESSES, rng.integers(0, 3), replace=False))
        if row.hypertension == 1 and i % 3 != 0:
            codes.append(1065 if i % 2 else 1072)
        if row.asthma == 1 and i % 2:
            codes.append(1111)
        if row.atopy == 1 and i % 2 == 0:
            codes.append(1387 if i % 4 else 1452)
        verbal[i, :len(codes)] = codes
        screen_vasc[i, 0] = 4 if row.hypertension == 1 and i % 3 != 1 else -7
        resp = [c for c, yes in ((8, row.asthma == 1 and i % 2 == 0), (9, row.atopy == 1 and i % 2)) if yes]
        screen_resp[i, :len(resp) or 1] = resp or [-7]
    for a in range(34):
        ex[f"20002-2.{a}"] = verbal[:, a]
    for a in range(4):
        ex[f"6150-2.{a}"] = screen_vasc[:, a]
    for a in range(5):
        ex[f"6152-2.{a}"] = screen_resp[:, a]
    return ex


@pytest.fixture(scope="module")
def ukb_source(tiny_cohort, tmp_path_factory):
    """The tiny cohort as a UK Biobank extract plus bulk imaging (zips and unzipped folders)."""
    ds = load_dataset(tiny_cohort)
    table = ds.table.sort_values("biobank_id").reset_index(drop=True)
    root = tmp_path_factory.mktemp("ukb")
    ex = make_extract(table, np.random.default_rng(0))
    last = table.biobank_id.iloc[-1]
    ex.loc[ex.eid == last, ["1920-0.0", "1920-2.0"]] = [np.nan, -3]  # never answered: left out
    ex = pd.concat([ex, ex.iloc[[0]].assign(eid="9999999")], ignore_index=True)  # no imaging at all
    ex.to_csv(root / "extract.csv", index=False)
    bulk = root / "bulk"
    cache = build_cache(ds, 32, progress=False)
    conn = {p: i for i, p in enumerate(cache.table.biobank_id)}
    r = int(round((1 + np.sqrt(1 + 8 * cache.connectivity().shape[1])) / 2))
    for k, row in enumerate(table.itertuples()):
        eid = row.biobank_id
        t1 = bulk / f"{eid}_20252_2_0" / "T1" / "T1_brain_to_MNI.nii.gz"
        t1.parent.mkdir(parents=True)
        shutil.copyfile(row.path_t1, t1)
        with zipfile.ZipFile(bulk / f"{eid}_20253_2_0.zip", "w") as z:
            z.write(row.path_flair, "T2_FLAIR/T2_FLAIR_brain_to_MNI.nii.gz")
            z.writestr("T2_FLAIR/T2_FLAIR.nii.gz", b"raw image, not used")
        fa = bulk / f"{eid}_20250_2_0" / "dMRI" / "TBSS" / "FA" / "dti_FA_to_MNI.nii.gz"
        fa.parent.mkdir(parents=True)
        shutil.copyfile(row.path_dwi, fa)
        if k != 1:  # one participant without connectivity
            mat = np.eye(r)
            mat[np.triu_indices(r, 1)] = cache.connectivity()[conn[eid]]
            mat = mat + np.triu(mat, 1).T
            np.savetxt(bulk / f"{eid}_25751_2_0.txt", _netmat_vector(mat)[None], fmt="%.8f")
    return {"extract": root / "extract.csv", "bulk": bulk, "table": table, "left_out": last,
            "no_conn": table.biobank_id.iloc[1], "cache": cache}


def test_round_trip_gives_back_the_characteristics(ukb_source, tmp_path):
    out = tmp_path / "data"
    info = ukb.convert_ukb(ukb_source["extract"], ukb_source["bulk"], out, progress=False)
    assert info["kept"] == 39
    assert info["no_images"] == 1
    assert info["found"] == {"t1": 39, "flair": 39, "dwi": 39, "connectivity": 38}
    excluded = pd.read_csv(out / "excluded.csv", dtype=str)
    assert excluded.eid.tolist() == [ukb_source["left_out"]]
    assert excluded.field.tolist() == ["1920"]
    ds = load_dataset(out)
    got = ds.table.set_index("biobank_id").sort_index()
    want = ukb_source["table"].set_index("biobank_id").drop(index=ukb_source["left_out"]).sort_index()
    assert got.index.tolist() == want.index.tolist()
    pd.testing.assert_frame_equal(got[list(TARGETS)], want[list(TARGETS)], check_dtype=False, atol=1e-9)
    pid = got.index[0]
    for m in ("t1", "flair", "dwi"):
        assert np.array_equal(nib.load(got.at[pid, f"path_{m}"]).dataobj, nib.load(want.at[pid, f"path_{m}"]).dataobj)
    assert ds.missing["connectivity"] == [ukb_source["no_conn"]]
    c = build_cache(ds, 32, progress=False)
    src = ukb_source["cache"]
    for i, p in enumerate(c.table.biobank_id):
        if c.has("connectivity")[i]:
            j = src.table.biobank_id.tolist().index(p)
            assert np.allclose(c.connectivity()[i], src.connectivity()[j], atol=1e-6)


@pytest.mark.slow
def test_converted_data_check_and_train(ukb_source, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["ukb", "--fields", str(ukb_source["extract"]), "--imaging", str(ukb_source["bulk"]),
                 "--out", str(out)]) == 0
    assert "wrote 39 participants" in capsys.readouterr().out
    assert main(["check", "--inpath", str(out)]) == 0
    assert main(["train", "--inpath", str(out), "--outpath", str(tmp_path / "m"), "--target", "hb", "--inputs",
                 "t1", "flair", "metadata", "--metadata_blocks", "constitutional", "--side", "32",
                 "--epochs", "1", "--patience", "1"]) == 0
    assert list((tmp_path / "m").glob("*/best_model.pt"))


def test_convert_to_bids(ukb_source, tmp_path):
    out = tmp_path / "bids"
    ukb.convert_ukb(ukb_source["extract"], ukb_source["bulk"], out, format="bids", progress=False)
    ds = load_dataset(out)
    assert ds.layout == "bids"
    assert len(ds.table) == 39
    assert ds.table.path_t1.str.contains("space-MNI152NLin6Asym_desc-brain_T1w").all()
    want = ukb_source["table"].set_index("biobank_id").loc[ds.table.biobank_id]
    assert np.allclose(ds.table[list(TARGETS)].to_numpy(float), want[list(TARGETS)].to_numpy(float))


def test_implausible_values_name_the_field_and_eid(ukb_source, tmp_path):
    ex = pd.read_csv(ukb_source["extract"], dtype=str)
    eid = ex.eid.iloc[3]
    ex.loc[3, "30020-0.0"] = "140"  # g/L where g/dL is expected
    ex.to_csv(tmp_path / "extract.csv", index=False)
    with pytest.raises(DataError, match=f"eid {eid}: field 30020-0.0 \\(hb\\) is 140.*--drop_implausible"):
        ukb.convert_ukb(tmp_path / "extract.csv", ukb_source["bulk"], tmp_path / "out", progress=False)
    info = ukb.convert_ukb(tmp_path / "extract.csv", ukb_source["bulk"], tmp_path / "out2", drop_implausible=True,
                           connectivity="none", progress=False)
    assert info["kept"] == 38
    excluded = pd.read_csv(tmp_path / "out2" / "excluded.csv", dtype=str)
    assert eid in excluded.eid.tolist()
    assert "30020-0.0" in excluded.field.tolist()


def test_netmat_is_filled_column_by_column(tmp_path):
    f = tmp_path / "1000000_25753_2_0.txt"
    f.write_text("1 2 3 4 5 6\n")  # FMRIB's worked example for a 4 x 4 matrix
    mat = ukb._netmat(f)
    assert np.array_equal(mat - np.eye(4), [[0, 1, 2, 4], [1, 0, 3, 5], [2, 3, 0, 6], [4, 5, 6, 0]])


def test_extract_column_styles(tmp_path):
    f = tmp_path / "rap.csv"
    pd.DataFrame({"eid": ["0012"], "p31_i0": [1], "p20002_i2_a3": [1065]}).to_csv(f, index=False)
    df = ukb.read_extract(f)
    assert df.index.tolist() == ["0012"]
    assert list(df.columns) == ["31-0.0", "20002-2.3"]


def test_fields_table_covers_every_characteristic(capsys):
    assert [f.column for f in ukb.FIELDS] == list(TARGETS)
    assert main(["ukb", "--fields_table"]) == 0
    printed = capsys.readouterr().out
    for f in ukb.FIELDS:
        assert f"| {f.column} | {', '.join(map(str, f.fields))} |" in printed
