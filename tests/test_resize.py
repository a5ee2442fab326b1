"""The cache's resize (MONAI ``Resize`` with anti-aliasing): fine detail does not fold back
as false coarse patterns when shrinking 128^3 volumes, and smooth anatomy passes unchanged."""

import nibabel as nib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from legibility.data.sources import load_volume, resize_volume

INNER = (slice(4, -4),) * 3  # away from the borders, where any filter must pad


def plain_trilinear(vol: np.ndarray, side: int) -> np.ndarray:
    """The resize the cache used before: trilinear interpolation with no low-pass."""
    t = torch.from_numpy(np.ascontiguousarray(vol, np.float32))[None, None]
    return F.interpolate(t, size=(side,) * 3, mode="trilinear", align_corners=False)[0, 0].numpy()


@pytest.fixture(scope="module")
def stripes(tmp_path_factory):
    """A 128^3 NIfTI of stripes 3.3 voxels apart along x (far finer than a 32^3 voxel, 4 wide),
    read back the way the cache reads it."""
    x = np.arange(128)
    vol = np.broadcast_to(np.cos(2 * np.pi * 0.3 * x)[:, None, None], (128,) * 3).astype(np.float32)
    path = tmp_path_factory.mktemp("stripes") / "stripes.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
    return load_volume(str(path), "stripes", "t1")


def test_fine_stripes_vanish_instead_of_aliasing(stripes):
    energy_in = stripes.var()
    aliased = plain_trilinear(stripes, 32)[INNER].var()
    ours = resize_volume(stripes, 32)[INNER].var()
    # Plain trilinear keeps a third of the stripes' energy, now as coarse false stripes...
    assert aliased > 0.25 * energy_in
    # ...the low-pass removes them: under 0.1% of the energy survives.
    assert ours < 1e-3 * energy_in
    assert ours < aliased / 300


def test_stripes_just_past_the_new_nyquist_are_damped_at_64(stripes):
    # 0.3 cycles per voxel is just above 64^3's Nyquist (0.25): a soft filter cannot remove
    # it all, but it cuts the false pattern's energy by most of it.
    aliased = plain_trilinear(stripes, 64)[INNER].var()
    ours = resize_volume(stripes, 64)[INNER].var()
    assert aliased > 0.25 * stripes.var()
    assert ours < aliased / 5


def test_smooth_volume_is_kept():
    x = np.arange(128)
    blob = np.exp(-((x[:, None, None] - 64) ** 2 + (x[None, :, None] - 60) ** 2 + (x[None, None, :] - 70) ** 2)
                  / (2 * 20.0 ** 2)).astype(np.float32)
    small = resize_volume(blob, 32)
    assert small.shape == (32,) * 3
    assert small.dtype == np.float32
    assert np.abs(small - plain_trilinear(blob, 32)).max() < 0.02  # on smooth anatomy the two agree
    assert small.argmax() == plain_trilinear(blob, 32).argmax()


def test_upsampling_and_same_side():
    vol = np.random.default_rng(0).normal(size=(24, 24, 24)).astype(np.float32)
    assert resize_volume(vol, 32).shape == (32,) * 3  # no low-pass when enlarging
    np.testing.assert_array_equal(resize_volume(vol, 24), vol)
    np.testing.assert_allclose(resize_volume(vol, 32), plain_trilinear(vol, 32), atol=1e-5)
