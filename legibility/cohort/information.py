"""What the brain carries of each characteristic, and what each imaging modality sees of it:
the cohort's ground truth.

One brain behind the modalities
-------------------------------
Every characteristic ``c`` has a standard-normal *liability* ``l_c``
(:mod:`legibility.cohort.characteristics`). The brain carries an imprint of it, a brain-level
variable with a declared share ``s_c`` of the liability's variance::

    b_c = sqrt(s_c) * l_c + sqrt(1 - s_c) * u_c                      (brain)
    o[m, c] = sqrt(q[m, c]) * b_c + sqrt(1 - q[m, c]) * e[m, c]       (what modality m sees)

``u`` (the brain's own variation) and ``e`` (each modality's measurement noise) are independent
of every characteristic and of each other. A modality therefore carries
``rho^2[m, c] = s_c * q[m, c]`` of the liability, and fusing modalities can at most recover the
brain's share ``s_c``: T1, FLAIR and diffusion image one and the same ageing, so adding DWI to
T1 + FLAIR gains little, as in the paper.

Every image of a participant is made from its own modality's observations ``o[m]`` and from
nuisance independent of every characteristic (head shape, misregistration, lesion texture,
scanner bias and noise): T1 and FLAIR from ``o[structural]``, the DWI map from ``o[dwi]``
(its atrophy and lesions included), the connectivity matrix from ``o[connectivity]``. So
``o`` is exactly the information the generator put into the images, and the ceilings of
:mod:`legibility.cohort.ground_truth`, computed from it, are bounds no learner can beat.

Where the numbers come from
---------------------------
``RHO2`` (per modality): for the four constitutional targets (the only ones the paper models
from imaging alone), **calibrated to the paper's table** so that the ceiling of each
single-modality input set lands near the paper's best published score for it; for body fat and
HbA1c, calibrated so that imaging adds to the constitutional block what it adds in the paper's
table (:mod:`legibility.cohort.calibration`; re-run with
``python scripts/calibrate_information.py``). For the others, from the literature (mostly
**A**, approximate, values): imaging carries little beyond what the constitutional characteristics say.

``s_c`` (:func:`brain_share`): the best modality's share plus :data:`FUSION_HEADROOM` of what
it leaves unexplained, so that a perfect learner gains at most that much by fusing modalities
(age: 0.875 from structural imaging, 0.8875 from the brain).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from legibility.study import TARGETS

__all__ = ["FUSION_HEADROOM", "MODALITIES", "MODALITY_OF_INPUT", "RHO2", "brain_share", "fidelity",
           "observe", "unshrunk"]

MODALITIES = ("structural", "dwi", "connectivity")
MODALITY_OF_INPUT = {"t1": "structural", "flair": "structural", "dwi": "dwi",
                     "connectivity": "connectivity"}

# Of what the best modality leaves unexplained of a liability, the share the brain still
# carries (seen only by fusing modalities). Small: in the paper's table fused imaging gained
# nothing over T1 + FLAIR (age R^2 0.859 from T1 + FLAIR, 0.851-0.855 with more).
FUSION_HEADROOM = 0.1

# rho^2 per characteristic: (structural, dwi, connectivity).
RHO2: dict[str, tuple[float, float, float]] = {
    # calibrated to the paper's table (imaging-only best scores: sex BA .995/.989/.915,
    # age R^2 .859/.775/.462, weight R^2 .622/.498/.271, handedness BA .50/.50/.577)
    "sex": (0.99976, 0.9988, 0.93),
    "age": (0.875, 0.79, 0.495),
    "weight": (0.56, 0.42, 0.17),
    "handedness": (0.0, 0.0, 0.03),
    # A: vascular-risk factors explain at most ~2% of brain measures (S), hypertension 4.4%
    # of white-matter-lesion variance (S); smoking a little less.
    "smoking": (0.02, 0.015, 0.01),
    "hypertension": (0.04, 0.03, 0.01),
    "atopy": (0.0, 0.0, 0.0),
    "asthma": (0.0, 0.0, 0.0),
    # S: about -0.5 to -0.7% grey matter per SD of BMI; calibrated to the paper's table
    # (Body Fat: imaging + C beats C alone by ~0.03 R^2).
    "body_fat": (0.30, 0.25, 0.02),
    "hb": (0.01, 0.01, 0.0),
    "hdl": (0.02, 0.0, 0.0),
    "hba1c": (0.08, 0.0, 0.0),  # calibrated to the paper's table: structural adds ~0.04 R^2
    "ldl": (0.0, 0.0, 0.0),
    # A: neuroticism |beta| 0.02-0.05, under 1% of variance.
    **{k: (0.002, 0.001, 0.002) for k in (
        "mood_swings", "miserableness", "irritability", "sensitivity", "fed_up", "nervous",
        "anxious", "tense", "worry", "lonely", "guilty")},
    "reaction_time": (0.01, 0.01, 0.005),  # A: slower with age; processing speed, small
}
assert set(RHO2) == set(TARGETS)


def brain_share(rho2: dict[str, tuple[float, float, float]] | None = None) -> dict[str, float]:
    """``s_c``: the share of each liability's variance imprinted on the brain.

    ``max_m rho^2 + FUSION_HEADROOM * (1 - max_m rho^2)`` where some modality carries the
    characteristic, 0 where none does.
    """
    rho2 = RHO2 if rho2 is None else rho2
    out = {}
    for c, shares in rho2.items():
        best = max(shares)
        out[c] = 0.0 if best <= 0 else best + FUSION_HEADROOM * (1.0 - best)
    return out


def fidelity(rho2: dict[str, tuple[float, float, float]] | None = None) -> dict[str, np.ndarray]:
    """``q[m, c] = rho^2[m, c] / s_c``: the share of the brain's imprint each modality images."""
    rho2 = RHO2 if rho2 is None else rho2
    s = brain_share(rho2)
    return {c: (np.asarray(rho2[c], float) / s[c] if s[c] > 0 else np.zeros(len(MODALITIES)))
            for c in rho2}


def observe(liabilities: pd.DataFrame, rng: np.random.Generator,
            rho2: dict[str, tuple[float, float, float]] | None = None) -> dict[str, pd.DataFrame]:
    """Each modality's standardised observation of every liability, through one brain.

    Parameters
    ----------
    liabilities : DataFrame
        ``n x 25``, the target keys as columns; standard normal by construction.
    rng : numpy.random.Generator
        Draws the brain's own variation ``u`` (once) and each modality's noise ``e``.
    rho2 : dict, optional
        Per-characteristic shares ``(structural, dwi, connectivity)``; default :data:`RHO2`.

    Returns
    -------
    dict
        ``{modality: DataFrame(n x 25)}`` with the target keys as columns; the observation of
        ``c`` by modality ``m`` correlates ``sqrt(rho^2[m, c])`` with ``l_c``.
    """
    rho2 = RHO2 if rho2 is None else rho2
    cols = list(liabilities.columns)
    s = np.array([brain_share(rho2)[c] for c in cols])
    q = np.stack([fidelity(rho2)[c] for c in cols], axis=1)  # (modality, characteristic)
    lia = liabilities.to_numpy()
    brain = lia * np.sqrt(s) + rng.standard_normal(lia.shape) * np.sqrt(1 - s)
    out = {}
    for j, m in enumerate(MODALITIES):
        noise = rng.standard_normal(lia.shape)
        out[m] = pd.DataFrame(brain * np.sqrt(q[j]) + noise * np.sqrt(1 - q[j]),
                              columns=cols, index=liabilities.index)
    return out


def unshrunk(obs: dict[str, pd.DataFrame], modality: str, key: str,
             rho2: dict[str, tuple[float, float, float]] | None = None) -> np.ndarray:
    """``o / rho``: the liability as the modality sees it, noise included (0 if rho ~ 0)."""
    rho2 = RHO2 if rho2 is None else rho2
    r = np.sqrt(rho2[key][MODALITIES.index(modality)])
    return obs[modality][key].to_numpy() / r if r > 0.05 else np.zeros(len(obs[modality]))
