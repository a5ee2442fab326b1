"""The anatomical world: the same information as the linear world, part of it carried by shape.

The linear world (the default) stays the generator it was; the anatomical one gives each head
its own anatomy and realises a share of each regional imprint as a change of the region's
volume, which a linear learner on aligned voxels reads less of, while the ceilings stay.
"""

import hashlib
import importlib.util
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from legibility import paths
from legibility.cohort import anatomy
from legibility.cohort.writer import generate_cohort
from legibility.errors import SettingError

ROOT = Path(__file__).resolve().parent.parent

# sha256 over the int16 volumes (by split, sorted id, T1/FLAIR/DWI) and the connectivity arrays
# of the cohort written by ``_small_cohort`` with the default (linear) world. It pins the linear
# world's random draws and arithmetic.
LINEAR_WORLD_SHA256 = "7d2ea5f0b595903e8e2b6c0a96b27a38e65b9e3afcafd399c974b8e019eb4f78"


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("anatomical_world", ROOT / "benchmarks" / "anatomical_world.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def age_ceiling_only(monkeypatch):
    """Cohorts whose ``ground_truth.csv`` holds the one cell the tests read (age from T1 + FLAIR),
    computed by the ceilings' own code: the full 700-model grid takes minutes."""
    from legibility.cohort import ground_truth
    from legibility.study import parse_inputs_label, target

    pair = [(target("age"), parse_inputs_label("FLAIR + T1"))]
    monkeypatch.setattr(ground_truth, "cached_ceilings",
                        lambda n, progress=False: ground_truth.ceilings(n=8000, pairs=pair))


def _small_cohort(out, **kw):
    generate_cohort(out, n=12, side=16, seed=7, regions=30, nodes=12, ceiling_n=1000, progress=False,
                    workers=1, **kw)
    h = hashlib.sha256()
    for folder in ("TRAIN", "TEST"):
        meta = pd.read_csv(paths.metadata_path(out, folder))
        for pid in sorted(meta.biobank_id):
            for m in ("t1", "flair", "dwi"):
                h.update(np.asarray(nib.load(paths.volume_path(out, folder, m, pid)).dataobj).tobytes())
        h.update(np.load(paths.fmri_paths(out, folder)[0]).tobytes())
    return h.hexdigest()


def test_the_linear_world_is_the_default_generator(tmp_path, age_ceiling_only):
    """With the option off, or the linear world named, every volume and connectivity matrix is
    bit for bit what the default generator writes; the anatomical world writes other images."""
    assert _small_cohort(tmp_path / "default") == LINEAR_WORLD_SHA256
    assert _small_cohort(tmp_path / "linear", world="linear") == LINEAR_WORLD_SHA256
    assert _small_cohort(tmp_path / "anatomical", world="anatomical", asymptote_n=0) != LINEAR_WORLD_SHA256


def test_world_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="anatomical world"):
        generate_cohort(tmp_path / "a", n=12, side=16, world="linear", shape_share=0.5, progress=False)
    with pytest.raises(ValueError, match="world must be"):
        generate_cohort(tmp_path / "b", n=12, side=16, world="curved", progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        generate_cohort(tmp_path / "c", n=12, side=16, world="anatomical", shape_share=1.5, progress=False)


def _region_volumes(code, world, side=48, seed=3):
    """Output voxels of one view that read each template region (R + 1 counts, 0 = outside)."""
    tpl = anatomy.template(32)
    brain = anatomy.SubjectBrain(age=63.0, male=0.5, weight_z=0.0, body_fat_z=0.0, hypertension_z=0.0,
                                 smoking_z=0.0, code=code)
    rng = np.random.default_rng(seed)
    nuis = anatomy.draw_nuisance(rng, world)
    y = anatomy._grid_mm(side)
    field = anatomy._anatomy_field(nuis.anatomy, side).astype(np.float32) if world.anatomical else None
    ijk = anatomy._tissues(brain, nuis, y, side, tpl, world, field)["ijk"]
    labels = anatomy._sample(tpl.regions, ijk, (side,) * 3, order=0).astype(int)
    return np.bincount(labels.ravel(), minlength=33)


def test_shape_share_moves_a_regions_boundary():
    """In the anatomical world a region whose imprint rises grows (its boundary moves out), by
    more as the shape share grows; in the linear world its extent does not depend on the imprint."""
    code = np.zeros(32)
    up = code.copy()
    up[4] = 0.1  # region 5: +10% grey matter as an intensity change
    lin = anatomy.World()
    assert (_region_volumes(up, lin) == _region_volumes(code, lin)).all()
    growth = []
    for share in (0.5, 1.0):
        w = anatomy.World("anatomical", share)
        before, after = _region_volumes(code, w), _region_volumes(up, w)
        growth.append(after[5] / before[5] - 1)
        others = np.delete(np.arange(1, 33), 4)
        assert abs(after[others].sum() / before[others].sum() - 1) < 0.02  # the rest stays
    assert growth[0] > 0.02, growth
    assert 1.5 * growth[0] < growth[1] < 0.5, growth


def test_individual_anatomy_is_smooth_and_invertible():
    """The individual anatomy displaces the template by its declared size (RMS per axis, at the
    default, a diffeomorphism, and as suite v1's 3 mm displacement) and keeps every local
    Jacobian positive (no folding)."""
    side = 32
    vox = anatomy.FOV_MM / side
    for mm, diffeomorphic in ((None, None), (3.0, False)):
        world = anatomy.World("anatomical", 0.5, mm, diffeomorphic)
        rms_all = []
        for seed in range(6):
            nuis = anatomy.draw_nuisance(np.random.default_rng(seed), world)
            v = anatomy._anatomy_field(nuis.anatomy, side, world.diffeomorphic).reshape(3, side, side, side)
            rms_all.append(np.sqrt((v**2).mean(axis=(1, 2, 3))))
            jac = np.stack([np.stack(np.gradient(v[d], *vox)) for d in range(3)])  # (d, e, ...)
            jac = np.moveaxis(jac, (0, 1), (-2, -1)) + np.eye(3)
            assert np.linalg.det(jac).min() > 0.05, (world, seed)
        rms = np.sqrt(np.mean(np.square(rms_all)))
        assert 0.7 * world.anatomy_mm < rms < 1.3 * world.anatomy_mm, (world, rms)


def test_shape_hides_age_from_a_linear_learner(tmp_path, age_ceiling_only):
    """Same participants, same ceiling: with the regional imprint carried by shape, the
    independent ridge on aligned pooled voxels (``benchmarks/bounds.py``'s learner, within an
    analysis mask) reads clearly less of age from T1 + FLAIR than in the linear world, and
    stays under the ceiling in both."""
    bench = _benchmark_module()
    rows = {}
    for world, share in (("linear", None), ("anatomical", 1.0)):
        out = tmp_path / world
        generate_cohort(out, n=800, side=16, seed=21, regions=32, nodes=12, ceiling_n=8000,
                        progress=False, workers=2, world=world, shape_share=share, asymptote_n=0)
        rows[world] = bench.score_against_ceiling(out, "age")
    lin, anat = rows["linear"], rows["anatomical"]
    assert lin["ceiling"] == anat["ceiling"]
    for row in (lin, anat):
        assert row["learner"] - row["ceiling"] <= 2 * np.hypot(row["learner_se"], row["ceiling_se"]), row
    assert anat["learner"] < lin["learner"] - 0.08, (lin["learner"], anat["learner"])
    assert anat["learner"] > 0.3  # the images still carry age: shape hides part of it, not all


def test_the_anatomy_settings_belong_to_the_anatomical_world():
    """The default anatomical world's anatomy is a diffeomorphism of ``ANATOMY_MM``; the linear
    world refuses anatomy settings and the anatomical one a size out of range."""
    default = anatomy.World("anatomical", 1.0)
    assert (default.anatomy_mm, default.diffeomorphic) == (anatomy.ANATOMY_MM, True)
    assert (anatomy.World().anatomy_mm, anatomy.World().diffeomorphic) == (None, None)
    with pytest.raises(SettingError, match="anatomical world"):
        anatomy.World("linear", 0.0, 3.0)
    with pytest.raises(SettingError, match="anatomy_mm"):
        anatomy.World("anatomical", 1.0, -1.0)
