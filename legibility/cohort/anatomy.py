"""T1, FLAIR and DWI volumes of one participant, built on real anatomy.

The anatomy is the MNI152 (ICBM 2009a symmetric) template, its grey/white-matter maps and
brain mask as shipped inside the ``nilearn`` wheel (no download). Each participant's head is
a warp of the template (size, misregistration, ventricle growth) with tissue changes (atrophy,
white-matter lesions, regional effects), then scanner effects (bias field, Rician noise) and
brain extraction, as the UK Biobank pipeline delivers.

What each volume carries: T1 and FLAIR are drawn from the structural view of the brain, the
DWI map from the diffusion view (:class:`SubjectBrain`, one per modality, each made from that
modality's observations only, :mod:`.information`), and both from the same :class:`Nuisance`,
which is independent of every characteristic. So the DWI map shows atrophy and lesions as real
diffusion maps do, but only as much of them as the DWI observation carries.

Two worlds (:class:`World`). In the *linear* one (the default) every regional imprint is an
intensity change in a fixed template region and heads differ by an affine and their ventricles,
so the images are close to linear in the observations. In the *anatomical* one each head also
has its own anatomy (a smooth deformation of the template) and a few mm and degrees of
misregistration, both nuisance, and a share of each view's regional imprint moves boundaries
(the region grows or shrinks around its centre) instead of changing intensity in place: the
same information, less of it within reach of a linear learner on aligned voxels.

Every planted effect cites its source (S: seen in a published source, A: approximate).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from legibility.errors import SettingError

__all__ = ["LINEAR", "V1_ANATOMY", "WORLDS", "Nuisance", "Template", "SubjectBrain", "World", "draw_nuisance",
           "output_affine", "synthesise", "template"]

# Field of view of the output volumes in MNI millimetres, and its centre.
FOV_MM = np.array([176.0, 208.0, 176.0])
CENTRE_MM = np.array([0.0, -18.0, 18.0])
VENTRICLE_CENTRE_MM = np.array([0.0, -8.0, 16.0])
HIPPOCAMPI_MM = (np.array([-26.0, -22.0, -14.0]), np.array([26.0, -22.0, -14.0]))
_TEMPLATE_SEED = 20240101  # anatomy shared by every cohort: regions, lesion-prone white matter


def output_affine(side: int) -> np.ndarray:
    """Voxel-to-MNI affine of an output volume of ``side``^3 voxels."""
    vox = FOV_MM / side
    aff = np.diag([*vox, 1.0])
    aff[:3, 3] = CENTRE_MM - vox * (side - 1) / 2
    return aff


@dataclass
class Template:
    """Template maps on a 2 mm grid, plus the fixed anatomy the generator adds to them."""

    gm: np.ndarray
    wm: np.ndarray
    mask: np.ndarray
    regions: np.ndarray  # int16 region label 1..R inside the mask, 0 outside
    lesion_prone: np.ndarray  # 0..1, where white-matter lesions appear first
    tract: np.ndarray  # 0.5..1, fibre coherence of white matter (FA-like texture)
    hippocampus: np.ndarray  # 0..1 weight around both hippocampi
    fa_age: np.ndarray  # 0..1, where FA falls fastest with age (anterior white matter)
    fa_sex: np.ndarray  # -0.4..1, where men's FA is higher (+) or lower (-)
    affine: np.ndarray  # voxel -> MNI of the 2 mm grid
    lesion_quantiles: np.ndarray  # lesion_prone values in white matter, sorted
    n_regions: int
    centres: np.ndarray | None = None  # (R, 3) centroid of each region, MNI mm
    radii: np.ndarray | None = None  # (R,) radius of the sphere of each region's volume, mm


def _smooth_field(shape, sigma, rng):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (f - f.mean()) / f.std()


@functools.lru_cache(maxsize=4)
def template(n_regions: int = 96) -> Template:
    """Load the nilearn MNI152 maps at 2 mm and add the generator's fixed anatomy."""
    from nilearn import datasets

    t1 = datasets.load_mni152_template(resolution=2)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=2).get_fdata(), np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=2).get_fdata(), np.float32)
    mask = np.asarray(datasets.load_mni152_brain_mask(resolution=2).get_fdata(), np.float32)
    gm, wm = gm / max(gm.max(), 1e-6), wm / max(wm.max(), 1e-6)
    gm, wm = gm * mask, wm * mask
    affine = t1.affine
    rng = np.random.default_rng(_TEMPLATE_SEED)

    # Regions for the many small effects: a Voronoi parcellation of the brain mask.
    inside = np.argwhere(mask > 0.5)
    seeds = inside[rng.choice(len(inside), n_regions, replace=False)]
    _, lab = cKDTree(seeds).query(inside)
    regions = np.zeros(mask.shape, np.int16)
    regions[tuple(inside.T)] = lab + 1

    # Lesion-prone white matter: periventricular first (A), with a smooth random texture.
    ijk = np.indices(mask.shape).reshape(3, -1).T
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    dist = np.linalg.norm(xyz - VENTRICLE_CENTRE_MM, axis=1).reshape(mask.shape)
    prone = 1.5 * np.exp(-dist / 25.0) + 0.35 * _smooth_field(mask.shape, 2.0, rng)
    prone = (prone - prone.min()) / (prone.max() - prone.min())
    in_wm = wm > 0.5
    quantiles = np.sort(prone[in_wm])[::-1].astype(np.float32)

    tract = 0.75 + 0.25 * np.tanh(_smooth_field(mask.shape, 1.5, rng))
    hip = np.zeros(mask.shape)
    for c in HIPPOCAMPI_MM:
        d2 = ((xyz - c) ** 2).sum(1).reshape(mask.shape)
        hip += np.exp(-d2 / (2 * 6.0**2))
    # Diffusion ages fastest in anterior (frontal, genu) white matter: an anterior-posterior
    # gradient of FA decline (A); sex differences in FA are tract-specific (S: men higher FA
    # overall, A: regionally variable). Regional, so a volume's own z-score keeps them.
    frontal = 1.0 / (1.0 + np.exp(-(xyz[:, 1].reshape(mask.shape) + 10.0) / 20.0))
    fa_sex = 0.3 + 0.7 * np.tanh(_smooth_field(mask.shape, 3.0, rng))
    labels = np.arange(1, n_regions + 1)
    centres_ijk = np.array(ndimage.center_of_mass(np.ones(mask.shape), regions, labels))
    centres = centres_ijk @ affine[:3, :3].T + affine[:3, 3]
    voxel_mm3 = abs(np.linalg.det(affine[:3, :3]))
    radii = (3 * voxel_mm3 * ndimage.sum(np.ones(mask.shape), regions, labels) / (4 * np.pi)) ** (1 / 3)
    return Template(gm, wm, mask, regions, prone.astype(np.float32), tract.astype(np.float32),
                    (hip * mask).astype(np.float32), frontal.astype(np.float32),
                    fa_sex.astype(np.float32), affine, quantiles, n_regions, centres, radii)


@dataclass
class SubjectBrain:
    """One modality's view of a participant's brain, made from that modality's observations.

    ``age`` and ``male`` are the brain's own values as the modality sees them (noisy), not the
    participant's recorded ones; ``code`` carries the many small regional effects.
    """

    age: float  # "brain age", years
    male: float  # 0..1, how male the brain looks
    weight_z: float  # body size, standardised
    body_fat_z: float  # adiposity, standardised
    hypertension_z: float
    smoking_z: float
    code: np.ndarray  # (R,) regional changes, fraction (grey matter for structural, FA for DWI)


WORLDS = ("linear", "anatomical")

# The anatomical world. Individual anatomy: a smooth displacement of the template, several mm
# RMS per axis after an affine registration to MNI (A: inter-subject residuals of sulcal and
# structural position after affine normalisation are of the order of 3-10 mm), made of
# low-frequency cosine modes (wavelengths >= 88 mm over the field of view), as in the
# discrete-cosine bases of nonlinear spatial normalisation (A). Its size is the world's
# ``anatomy_mm``: 8 mm by default (about 14 mm as a vector), calibrated so that a ridge on all
# the pooled voxels, extrapolated to the paper's 19,048 training participants, sits near the
# literature's linear brain-age error (MAE ~2.9 y; linear learners 3.0-4.7 y) while the ceiling
# stays where the best deep models are (~2.1 y): benchmarks/results/world_calibration.md. At
# such sizes a displacement field folds the template in places, so by default the cosine field
# is a velocity, integrated into a diffeomorphism (scaling and squaring, as in DARTEL, A).
# Benchmark suite v1 was generated with 3 mm as a plain displacement (``diffeomorphic=False``).
ANATOMY_MM = 8.0
SQUARINGS = 6
# The individual anatomy of benchmark suite v1, and of every anatomical cohort written before
# the anatomy was a setting.
V1_ANATOMY = {"anatomy_mm": 3.0, "diffeomorphic": False}
ANATOMY_MODES = 4
# Misregistration beyond the linear world's ~1 degree, ~1 mm: rigid residuals of a few
# degrees and mm are usual after an affine pipeline on older brains (A).
EXTRA_ROTATION_DEG = 2.0
EXTRA_SHIFT_MM = 2.0
# Shape: the part of a region's imprint carried by shape changes the region's volume by a
# log-factor SHAPE_GAIN times the intensity fraction it replaces. A regional grey-matter
# density change of x matches a volume change of x in modulated morphometry (density times
# Jacobian, A); the gain makes the displacements comparable with the voxel (calibrated to be
# seen at 32^3, not taken from the literature).
SHAPE_GAIN = 3.0
# Width of the displacement around a region's centre, as a fraction of the radius of the
# sphere of its volume; the hippocampi are 6 mm wide (their weight map, see ``template``).
BUMP_WIDTH = 0.7
HIPPOCAMPUS_WIDTH_MM = 6.0
# The default share is the whole imprint: with it and the default individual anatomy
# (ANATOMY_MM), what a ridge on the voxels reaches at the paper's 19,048 training participants
# is set against the brain-age literature in benchmarks/results/world_calibration.md.
DEFAULT_SHAPE_SHARE = 1.0


@dataclass(frozen=True)
class World:
    """How characteristics imprint the images.

    Parameters
    ----------
    kind : {"linear", "anatomical"}
        ``linear``: every regional imprint is an intensity change in a fixed template region
        and heads differ by an affine and their ventricles only, so the images are nearly
        linear in the observations. ``anatomical``: each participant has an individual
        anatomy (a smooth deformation of the template, drawn from nuisance only) and a
        misregistration of a few mm and degrees, and a share of each regional imprint is
        carried by shape.
    shape_share : float
        In ``[0, 1]``; the anatomical world only (0 in the linear one). The share of each
        modality's regional imprint (its many small regional effects and its hippocampal
        atrophy) realised as a regional volume change (the region expands or contracts
        around its centre, its boundaries move) instead of an intensity change in place.
        What the images carry is unchanged: only how.
    anatomy_mm : float, optional
        The anatomical world only: the RMS per axis, in mm, of each participant's individual
        anatomy (a smooth deformation of the template, nuisance); default :data:`ANATOMY_MM`.
        The larger it is, the less of a shape imprint a learner on aligned voxels can read:
        the ceiling does not move.
    diffeomorphic : bool, optional
        The anatomical world only: whether the individual anatomy's cosine field is a velocity
        integrated into a diffeomorphism (default; no fold at any size) or the displacement
        itself (benchmark suite v1).
    """

    kind: str = "linear"
    shape_share: float = 0.0
    anatomy_mm: float | None = None
    diffeomorphic: bool | None = None

    def __post_init__(self):
        if self.kind not in WORLDS:
            raise SettingError(f"world must be one of {WORLDS}; got {self.kind!r}.")
        if not 0.0 <= self.shape_share <= 1.0:
            raise SettingError(f"shape_share must be in [0, 1]; got {self.shape_share}.")
        if self.kind == "linear" and self.shape_share != 0.0:
            raise SettingError("shape_share needs the anatomical world (world='anatomical').")
        if self.kind == "linear" and (self.anatomy_mm, self.diffeomorphic) != (None, None):
            raise SettingError("anatomy_mm and diffeomorphic need the anatomical world (world='anatomical').")
        if self.anatomical:
            mm = ANATOMY_MM if self.anatomy_mm is None else float(self.anatomy_mm)
            if not 0.0 <= mm <= 20.0:
                raise SettingError(f"anatomy_mm must be in [0, 20] mm; got {mm}.")
            object.__setattr__(self, "anatomy_mm", mm)
            object.__setattr__(self, "diffeomorphic", True if self.diffeomorphic is None else bool(self.diffeomorphic))

    @property
    def anatomical(self) -> bool:
        return self.kind == "anatomical"


LINEAR = World()


@dataclass
class Nuisance:
    """What varies between heads and scans but carries no characteristic: drawn once per
    participant and shared by every modality (one head, one registration)."""

    log_volume: float  # head size beyond sex and body size
    anisotropy: np.ndarray  # (3,) log-scale per axis
    rotation: np.ndarray  # (3,) radians, residual misregistration
    shift: np.ndarray  # (3,) mm
    ventricles: float  # log of ventricle size beyond age
    lesions: float  # log2 of lesion burden beyond age and vascular risk
    anatomy: np.ndarray | None = None  # (3, K, K, K) cosine-mode displacements, mm (anatomical world)


def draw_nuisance(rng: np.random.Generator, world: World = LINEAR) -> Nuisance:
    """One participant's :class:`Nuisance` (sizes: A, as after an affine registration).

    The anatomical world draws the linear world's nuisance first, then its individual anatomy
    and extra misregistration.
    """
    nuis = Nuisance(log_volume=0.07 * rng.standard_normal(), anisotropy=rng.normal(0, 0.01, 3),
                    rotation=rng.normal(0, np.deg2rad(1.0), 3), shift=rng.normal(0, 1.0, 3),
                    ventricles=rng.normal(0, 0.04), lesions=0.6 * rng.standard_normal())
    if world.anatomical:
        nuis.rotation = nuis.rotation + rng.normal(0, np.deg2rad(EXTRA_ROTATION_DEG), 3)
        nuis.shift = nuis.shift + rng.normal(0, EXTRA_SHIFT_MM, 3)
        nuis.anatomy = _mode_sd(world.anatomy_mm)[None] * rng.standard_normal((3, *(ANATOMY_MODES,) * 3))
    return nuis


@functools.lru_cache(maxsize=4)
def _mode_sd(rms_mm: float) -> np.ndarray:
    """SD of each cosine mode's amplitude: falling with frequency, scaled so that the field's
    RMS per axis is ``rms_mm`` (a product of three cosines has mean square 1/8)."""
    k = np.arange(1, ANATOMY_MODES + 1)
    w = 1.0 / (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return rms_mm * w / np.sqrt((w**2).sum() / 8.0)


def _cosines(t: np.ndarray) -> np.ndarray:
    """Cosine modes 1..K at positions ``t`` in units of the field of view (0..1): (K, len(t))."""
    return np.cos(np.pi * np.arange(1, ANATOMY_MODES + 1)[:, None] * t[None, :])


def _axes_mm(side: int) -> list[np.ndarray]:
    """The output grid's coordinates along each axis, MNI mm (the grid is axis-aligned)."""
    aff = output_affine(side)
    return [aff[d, d] * np.arange(side) + aff[d, 3] for d in range(3)]


def _anatomy_field(coef: np.ndarray, side: int, diffeomorphic: bool = False) -> np.ndarray:
    """The individual anatomy's displacement on the output grid, (3, side^3) mm: the cosine
    field itself, or the displacement of the diffeomorphism it generates as a velocity."""
    b = [_cosines((np.arange(side) + 0.5) / side)] * 3
    v = np.stack([np.einsum("abc,ai,bj,ck->ijk", c, *b, optimize=True).reshape(-1) for c in coef])
    return _exponentiated(v, side) if diffeomorphic else v


def _field_at(u: np.ndarray, side: int, points: np.ndarray) -> np.ndarray:
    """A displacement ``u`` on the output grid (3, side^3) read at ``points`` (P, 3) MNI mm: (P, 3)."""
    aff = output_affine(side)
    idx = ((points - aff[:3, 3]) / np.diag(aff)[:3]).T
    return np.stack([ndimage.map_coordinates(c.reshape((side,) * 3), idx, order=1, mode="nearest") for c in u],
                    axis=1)


def _exponentiated(v: np.ndarray, side: int) -> np.ndarray:
    """The displacement of ``exp(v)``, ``v`` a stationary velocity on the output grid (mm), by
    scaling and squaring: ``u <- u + u(y + u)``, ``SQUARINGS`` times from ``v / 2^SQUARINGS``."""
    y = _grid_mm(side).T.astype(np.float64)
    u = v / 2.0**SQUARINGS
    for _ in range(SQUARINGS):
        u = u + _field_at(u, side, y + u.T).T
    return u


def _anatomy_at(coef: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The individual anatomy's displacement at ``points`` (P, 3) MNI mm: (P, 3) mm."""
    t = (points - (CENTRE_MM - FOV_MM / 2)) / FOV_MM
    b = [_cosines(t[:, d]) for d in range(3)]
    return np.einsum("dabc,ap,bp,cp->pd", coef, *b, optimize=True)


def _bumps(axes: list[np.ndarray], centres: np.ndarray, widths: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Sum of radial displacements ``g_r (y - m_r) exp(-|y - m_r|^2 / 2 w_r^2)`` on the
    axis-aligned grid ``axes``: (3, N) mm. Separable in the three axes, so each component is
    one matrix product over the regions (no per-voxel loop over regions)."""
    e = [np.exp(-((a[None, :] - centres[:, d, None]) ** 2) / (2 * widths[:, None] ** 2)) for d, a in enumerate(axes)]
    h = [(a[None, :] - centres[:, d, None]) * e[d] for d, a in enumerate(axes)]
    n = len(centres)

    def outer(p, q, r):
        return ((gain[:, None] * p).T @ (q[:, :, None] * r[:, None, :]).reshape(n, -1)).reshape(-1)

    return np.stack([outer(h[0], e[1], e[2]), outer(e[0], h[1], e[2]), outer(e[0], e[1], h[2])])


def _grid_mm(side: int) -> np.ndarray:
    aff = output_affine(side)
    ijk = np.indices((side,) * 3, dtype=np.float32).reshape(3, -1)
    return aff[:3, :3].astype(np.float32) @ ijk + aff[:3, 3:4].astype(np.float32)


_grid_cache: dict[int, np.ndarray] = {}


def _rotation(angles):
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _bias_field(grid_unit, rng, strength):
    """Smooth multiplicative field: exp of a random quadratic polynomial (scanner bias)."""
    x, y, z = grid_unit
    terms = (x, y, z, x * x, y * y, z * z, x * y, x * z, y * z)
    coef = rng.normal(0, strength, len(terms))
    return np.exp(sum(c * t for c, t in zip(coef, terms, strict=True)))


def _rician(signal, sigma, rng):
    n1 = rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    n2 = rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    return np.sqrt((signal + n1) ** 2 + n2**2)


def _shape_field(brain: SubjectBrain, nuis: Nuisance, a: np.ndarray, side: int, tpl: Template,
                 share: float, anatomy: np.ndarray | None = None) -> np.ndarray:
    """The shape share of one view's regional imprint as a displacement on the output grid
    (3, side^3) mm: each region's volume changes by ``exp(SHAPE_GAIN * share * code_r)`` and
    each hippocampus by ``share`` of its age-related loss, around the region's centre as it
    lies in this head (through the affine ``a`` and the individual anatomy: its cosine field, or
    ``anatomy``, its displacement on the output grid, where that is a diffeomorphism's)."""
    # Hippocampal volume falls ~0.85%/yr (S): realised as a contraction of both hippocampi.
    hip_loss = min(share * 0.0085 * max(brain.age - 45.0, 0.0), 0.9)
    log_change = np.concatenate([SHAPE_GAIN * share * np.asarray(brain.code, float),
                                 np.full(len(HIPPOCAMPI_MM), np.log1p(-hip_loss))])
    centres = np.concatenate([tpl.centres, np.stack(HIPPOCAMPI_MM)])
    widths = np.concatenate([BUMP_WIDTH * tpl.radii, np.full(len(HIPPOCAMPI_MM), HIPPOCAMPUS_WIDTH_MM)])
    # Where the template's centres lie in this head: through the affine, then back along the
    # individual anatomy's displacement (to first order).
    m = (centres - CENTRE_MM) @ a.T + CENTRE_MM + nuis.shift
    m = m - (_anatomy_at(nuis.anatomy, m) if anatomy is None else _field_at(anatomy, side, m))
    # The grid reads the template at y + displacement: a region grows by exp(log_change) at its
    # centre when the displacement there is (y - m) (exp(-log_change / 3) - 1).
    gain = np.expm1(-log_change / 3.0)
    return _bumps(_axes_mm(side), m, widths, gain).astype(np.float32)


def _tissues(brain: SubjectBrain, nuis: Nuisance, y: np.ndarray, side: int, tpl: Template,
             world: World = LINEAR, anatomy: np.ndarray | None = None) -> dict:
    """Tissue maps of one view of the brain, sampled on the output grid ``y`` (MNI mm).

    In the anatomical world, ``anatomy`` is the individual anatomy's displacement on that grid
    (shared by the views); the view's shape field is added to it, and both are composed with
    the affine and the ventricles into one resampling of the template.
    """
    # --- warp: subject space -> template space
    # Brain size: ~10-12% larger in men (S), d about 1.2 (A); a little with body size (A).
    log_vol = 0.105 * (brain.male - 0.475) + 0.015 * brain.weight_z + nuis.log_volume
    scale = np.exp(log_vol / 3.0) * np.exp(nuis.anisotropy)  # slight anisotropy
    # Small misregistration after the pipeline's affine step: ~1 degree, ~1 mm (A).
    a = _rotation(nuis.rotation) * scale
    a_inv = np.linalg.inv(a).astype(np.float32)
    share = world.shape_share
    if world.anatomical:
        y = y + anatomy + _shape_field(brain, nuis, a, side, tpl, share, anatomy if world.diffeomorphic else None)
    x = a_inv @ (y - (CENTRE_MM + nuis.shift)[:, None].astype(np.float32)) + CENTRE_MM[:, None]
    # Ventricles/CSF grow ~3-5%/yr after 60 (A): a radial expansion around the ventricles.
    years = max(brain.age - 60.0, 0.0)
    lin = (1.04 ** years) ** (1 / 3) * np.exp(nuis.ventricles)
    d = x - VENTRICLE_CENTRE_MM[:, None]
    w = np.exp(-(d**2).sum(0) / (2 * 14.0**2))
    x = VENTRICLE_CENTRE_MM[:, None] + d * (1 - (1 - 1 / lin) * w)

    inv = np.linalg.inv(tpl.affine)
    ijk = inv[:3, :3].astype(np.float32) @ x + inv[:3, 3:4].astype(np.float32)
    shape = (side,) * 3

    def sample(arr, order=1):
        return _sample(arr, ijk, shape, order)

    gm, wm, mask = sample(tpl.gm), sample(tpl.wm), sample(tpl.mask)
    regions = sample(tpl.regions, order=0).astype(np.int64)
    prone, hip = sample(tpl.lesion_prone), sample(tpl.hippocampus)
    csf = np.clip(mask - gm - wm, 0, None)

    # --- grey matter
    # Loss with age: 0.2-0.3%/yr in middle age, ~0.8%/yr at 65-82 (S); hippocampus ~0.85%/yr
    # more (S); about -0.6% per SD of adiposity, none in white matter (S).
    age = brain.age
    loss = 0.0025 * np.clip(min(age, 65.0) - 45.0, 0, None) + 0.008 * max(age - 65.0, 0.0)
    # In the anatomical world the hippocampal share ``share`` is a contraction instead
    # (_shape_field); diffuse grey-matter loss stays a density change (cortical thinning is
    # sub-voxel at these resolutions: partial volume).
    loss = loss + 0.006 * brain.body_fat_z + 0.0085 * (1.0 - share) * max(age - 45.0, 0.0) * hip
    gm_new = np.clip(gm * (1 - loss), 0, 1)
    csf = csf + np.clip(gm - gm_new, 0, None)

    # --- white-matter hyperintensities (FLAIR): volume ~doubles per decade (A); age explains
    # ~16% of variance, hypertension 4.4%, all vascular risk ~15% (S).
    log2_burden = ((age - 63.0) / 10.0 + 0.45 * brain.hypertension_z + 0.25 * brain.smoking_z
                   + nuis.lesions)
    frac = float(np.clip(0.01 * 2.0**log2_burden, 1e-4, 0.25))
    thr = tpl.lesion_quantiles[min(int(frac * len(tpl.lesion_quantiles)), len(tpl.lesion_quantiles) - 1)]
    lesion = wm * np.clip((prone - thr) / 0.02 + 0.5, 0, 1)
    # Many small regional effects (calibrated to the paper's table, see .information).
    code = np.concatenate([[0.0], (1.0 - share) * np.asarray(brain.code)])[regions]
    return {"gm": gm_new, "wm": wm, "csf": csf, "mask": mask, "lesion": lesion, "code": code,
            "ijk": ijk}


def _sample(arr: np.ndarray, ijk: np.ndarray, shape, order: int = 1) -> np.ndarray:
    """A template map read at template voxel coordinates ``ijk`` (3 x N), as ``shape``."""
    return ndimage.map_coordinates(arr, ijk, order=order, mode="constant").reshape(shape)


def synthesise(structural: SubjectBrain, dwi: SubjectBrain, side: int, rng: np.random.Generator,
               tpl: Template | None = None, world: World = LINEAR) -> dict[str, np.ndarray]:
    """The participant's T1, FLAIR and DWI volumes (``side``^3, float32, arbitrary units).

    Parameters
    ----------
    structural, dwi : SubjectBrain
        The brain as structural imaging and as diffusion imaging see it. T1 and FLAIR are
        made from ``structural`` only, the DWI map from ``dwi`` only.
    rng : numpy.random.Generator
        Draws the participant's :class:`Nuisance` and the scanner's bias and noise.
    world : World
        The linear world (default) or the anatomical one (:class:`World`).
    """
    tpl = tpl or template()
    if side not in _grid_cache:
        _grid_cache[side] = _grid_mm(side)
    y = _grid_cache[side]
    nuis = draw_nuisance(rng, world)
    shape = (side,) * 3
    anatomy = _anatomy_field(nuis.anatomy, side, world.diffeomorphic).astype(np.float32) if world.anatomical else None

    s = _tissues(structural, nuis, y, side, tpl, world, anatomy)
    gm = np.clip(s["gm"] * (1 + s["code"]), 0, 1)
    csf = s["csf"] + np.clip(s["gm"] - gm, 0, None)
    wm, lesion = s["wm"], s["lesion"]
    t1 = 0.30 * csf + 0.62 * gm + 0.92 * (wm - lesion) + 0.65 * lesion
    flair = 0.12 * csf + 0.66 * gm + 0.52 * (wm - lesion) + 1.05 * lesion

    # Diffusion: FA-like map, white matter bright (the paper's mean DWI looks like FA), on the
    # diffusion view's own anatomy. FA -0.1 to -0.3%/yr (S/A), fastest anteriorly (A); men
    # higher FA, tract-specific (S/A); lesions lower FA (A).
    d = _tissues(dwi, nuis, y, side, tpl, world, anatomy)
    tract, fa_age, fa_sex = (_sample(a, d["ijk"], shape) for a in (tpl.tract, tpl.fa_age, tpl.fa_sex))
    fa = (1 - 0.004 * (dwi.age - 63.0) * fa_age) * (1 + 0.04 * (dwi.male - 0.5) * fa_sex)
    dwi_map = ((0.55 * d["wm"] * tract * fa * (1 - 0.4 * d["lesion"]) + 0.14 * d["gm"] + 0.04 * d["csf"])
               * (1 + d["code"]))

    unit = (y - CENTRE_MM[:, None]) / (FOV_MM[:, None] / 2)
    out = {}
    for name, vol, sigma, bias, mask in (("t1", t1, 0.025, 0.08, s["mask"]),
                                         ("flair", flair, 0.03, 0.1, s["mask"]),
                                         ("dwi", dwi_map, 0.02, 0.03, d["mask"])):
        vol = vol.reshape(-1) * _bias_field(unit, rng, bias).astype(np.float32)
        vol = _rician(vol.reshape(shape).astype(np.float32), sigma, rng)
        out[name] = np.where(mask > 0.5, vol, 0).astype(np.float32)  # brain-extracted
    return out
