"""The synthetic cohort: written in the paper's layout, read back, deterministic, calibrated."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from legibility import paths
from legibility.cohort.anatomy import output_affine
from legibility.cohort.characteristics import PREVALENCE, draw_latents, make_characteristics
from legibility.cohort.writer import generate_cohort
from legibility.study import METRIC_COLUMNS, TARGETS


def test_layout_written_and_read_back(tiny_cohort):
    info = json.loads((tiny_cohort / paths.COHORT_INFO).read_text())
    assert (info["n_train"], info["n_test"]) == (32, 8)
    for folder in ("TRAIN", "TEST"):
        meta = pd.read_csv(paths.metadata_path(tiny_cohort, folder))
        assert list(meta.columns) == ["biobank_id", *TARGETS]
        npy, txt = paths.fmri_paths(tiny_cohort, folder)
        conn = np.load(npy)
        ids = [int(x) for x in txt.read_text().split()]
        assert conn.shape == (len(meta), 20, 20)
        assert ids == meta.biobank_id.tolist()  # aligned with the metadata rows
        np.testing.assert_allclose(conn[:, np.arange(20), np.arange(20)], 1.0)
        np.testing.assert_allclose(conn, conn.transpose(0, 2, 1))
        for pid in meta.biobank_id:
            for m in ("t1", "flair", "dwi"):
                img = nib.load(paths.volume_path(tiny_cohort, folder, m, pid))
                assert img.shape == (24, 24, 24)
                np.testing.assert_allclose(img.affine, output_affine(24))
                data = img.get_fdata()
                assert data.max() > 100
                assert data.min() >= 0
    latents = pd.read_csv(tiny_cohort / paths.LATENTS)
    assert len(latents) == 40
    assert latents.biobank_id.is_unique


def test_ground_truth_covers_the_grid(tiny_cohort):
    gt = pd.read_csv(tiny_cohort / paths.GROUND_TRUTH)
    assert list(gt.columns) == [*METRIC_COLUMNS, "ceiling_se"]
    assert (gt.ceiling_se > 0).all()
    assert len(gt) == 700
    sex = gt[(gt.Target == "Sex (Male)") & (gt.Inputs == "FLAIR + T1")]["Balanced accuracy"].item()
    assert sex > 0.95
    psy = gt[(gt.Domain == "Psychology") & (gt.Target != "Reaction Time")]
    assert psy["Balanced accuracy"].max() < 0.7


def test_deterministic_for_a_seed(tmp_path):
    kw = dict(n=12, side=16, seed=7, regions=30, nodes=12, ceiling_n=1000, progress=False)
    generate_cohort(tmp_path / "a", workers=1, **kw)
    generate_cohort(tmp_path / "b", workers=2, **kw)  # worker count does not matter
    for folder in ("TRAIN", "TEST"):
        a = pd.read_csv(paths.metadata_path(tmp_path / "a", folder))
        b = pd.read_csv(paths.metadata_path(tmp_path / "b", folder))
        pd.testing.assert_frame_equal(a, b)
        np.testing.assert_array_equal(np.load(paths.fmri_paths(tmp_path / "a", folder)[0]),
                                      np.load(paths.fmri_paths(tmp_path / "b", folder)[0]))
        pid = a.biobank_id.iloc[0]
        va = nib.load(paths.volume_path(tmp_path / "a", folder, "flair", pid)).get_fdata()
        vb = nib.load(paths.volume_path(tmp_path / "b", folder, "flair", pid)).get_fdata()
        np.testing.assert_array_equal(va, vb)


def test_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_cohort(tmp_path, n=12, side=16, progress=False)


def test_marginals_match_cohort_facts():
    rng = np.random.default_rng(0)
    values, _ = make_characteristics(draw_latents(20_000, rng), rng)
    for key, p in PREVALENCE.items():
        assert values[key].mean() == pytest.approx(p, abs=0.02), key
    assert values.age.mean() == pytest.approx(63.1, abs=0.3)
    men, women = values[values.sex == 1], values[values.sex == 0]
    assert men.weight.mean() == pytest.approx(85, abs=1.5)
    assert women.weight.mean() == pytest.approx(70, abs=1.5)
    assert women.body_fat.mean() == pytest.approx(35.5, abs=1)
    assert men.hb.mean() - women.hb.mean() == pytest.approx(1.4, abs=0.2)
    assert women.hdl.mean() > men.hdl.mean() + 0.2
    assert values.reaction_time.skew() > 0
    assert values.hba1c.skew() > 0
    # Hypertension rises with age (A).
    old = values.age > 70
    assert values.hypertension[old].mean() > values.hypertension[~old].mean() + 0.1


def test_older_brains_have_bigger_ventricles(tiny_cohort):
    """A planted effect is visible in the written images: CSF-dark voxels grow with age."""
    meta = pd.read_csv(paths.metadata_path(tiny_cohort, "TRAIN"))
    dark = []
    for pid in meta.biobank_id:
        t1 = nib.load(paths.volume_path(tiny_cohort, "TRAIN", "t1", pid)).get_fdata()
        brain = t1 > 0
        dark.append(((t1 < 450) & brain).sum() / brain.sum())
    assert np.corrcoef(meta.age, dark)[0, 1] > 0.3


@pytest.mark.parametrize(("target", "inputs"), [
    ("sex", "FLAIR + T1"), ("sex", "DWI"), ("sex", "rsfMRI Connectivity"),
    ("age", "FLAIR + T1"), ("age", "DWI"), ("age", "rsfMRI Connectivity"),
    ("weight", "FLAIR + T1"), ("weight", "DWI"), ("weight", "rsfMRI Connectivity"),
])
def test_ceilings_calibrated_to_paper(published_table, target, inputs):
    """Single-modality ceilings land near the paper's best published score (COHORT_FACTS)."""
    from legibility.cohort.ground_truth import ceilings
    from legibility.study import parse_inputs_label
    from legibility.study import target as get

    t = get(target)
    row = ceilings(n=8000, pairs=[(t, parse_inputs_label(inputs))]).iloc[0]
    pub = published_table[(published_table.Target == t.display) & (published_table.Inputs == inputs)].iloc[0]
    col = "Balanced accuracy" if t.is_binary else "r2"
    assert row[col] == pytest.approx(pub[col], abs=0.04)


def _view(**kw):
    from legibility.cohort.anatomy import SubjectBrain

    base = dict(age=63.0, male=0.5, weight_z=0.0, body_fat_z=0.0, hypertension_z=0.0, smoking_z=0.0,
                code=np.zeros(32))
    return SubjectBrain(**{**base, **kw})


@pytest.mark.parametrize("world", ["linear", "anatomical"])
def test_each_volume_is_made_from_its_own_modality_only(world):
    """What an image carries is what its ceiling credits: the DWI map does not move when the
    structural view of the brain changes (same nuisance), and T1/FLAIR do not move with the DWI
    view; in the anatomical world too, where part of each view's imprint is shape."""
    from legibility.cohort.anatomy import World, synthesise, template

    tpl = template(32)
    w = World(world, 0.7 if world == "anatomical" else 0.0)
    rng = np.random.default_rng(1)
    young = _view(age=50.0, male=0.0, weight_z=-1.0, code=rng.normal(0, 0.08, 32))
    old = _view(age=78.0, male=1.0, weight_z=1.5, code=rng.normal(0, 0.08, 32))
    a = synthesise(young, young, 24, np.random.default_rng(5), tpl, w)
    b = synthesise(old, young, 24, np.random.default_rng(5), tpl, w)
    c = synthesise(young, old, 24, np.random.default_rng(5), tpl, w)
    np.testing.assert_array_equal(a["dwi"], b["dwi"])
    for m in ("t1", "flair"):
        np.testing.assert_array_equal(a[m], c[m])
        assert np.abs(a[m] - b[m]).mean() > 0.01
    assert np.abs(a["dwi"] - c["dwi"]).mean() > 0.01


def test_dwi_age_and_sex_effects_survive_the_volume_zscore():
    """Diffusion's own age and sex effects are regional, so z-scoring each volume (as the cache
    does) keeps them. Measured against a template whose FA patterns are flat: what differs
    between the two is the FA effect alone (atrophy and head size are the same in both)."""
    import dataclasses

    from legibility.cohort.anatomy import synthesise, template

    tpl = template(32)
    flat = dataclasses.replace(tpl, fa_age=np.zeros_like(tpl.fa_age), fa_sex=np.zeros_like(tpl.fa_sex))

    def zscored(t, **kw):
        vol = synthesise(_view(), _view(**kw), 32, np.random.default_rng(9), t)["dwi"]
        brain = vol > 0
        return np.where(brain, (vol - vol[brain].mean()) / vol[brain].std(), 0)

    for change in (dict(age=78.0), dict(male=1.0)):
        fa_only = (zscored(tpl, **change) - zscored(tpl)) - (zscored(flat, **change) - zscored(flat))
        assert np.abs(fa_only).max() > 0.03, change


def test_ceilings_never_fall_when_inputs_are_added(tiny_cohort):
    """A perfect learner can ignore an input: over the whole grid, no input set's ceiling is
    below that of an input set it contains (same target)."""
    from legibility.study import parse_inputs_label

    gt = pd.read_csv(tiny_cohort / paths.GROUND_TRUTH)
    binary = gt.Target.map({t.display: t.is_binary for t in TARGETS.values()})
    gt["score"] = gt["Balanced accuracy"].where(binary, gt["r2"])
    checked = 0
    for _, rows in gt.groupby("Target"):
        sets = [(parse_inputs_label(r.Inputs), r.score, r.Inputs) for r in rows.itertuples()]
        for big, big_score, big_label in sets:
            for small, small_score, small_label in sets:
                if small.imaging <= big.imaging and small.blocks <= big.blocks:
                    assert big_score >= small_score, (big_label, small_label)
                    checked += 1
    assert checked > 2000


def test_fusing_modalities_adds_little_at_the_ceiling():
    """One brain behind the modalities: all imaging is at most 0.02 above T1 + FLAIR for age,
    weight and sex (the paper's fused models gained nothing)."""
    from legibility.cohort.ground_truth import ceilings
    from legibility.study import parse_inputs_label, target

    labels = ("FLAIR + T1", "rsfMRI Connectivity + DWI + FLAIR + T1")
    for key in ("age", "weight", "sex"):
        t = target(key)
        c = ceilings(n=8000, pairs=[(t, parse_inputs_label(s)) for s in labels])
        col = "Balanced accuracy" if t.is_binary else "r2"
        assert c[col].iloc[1] - c[col].iloc[0] <= 0.02, key
