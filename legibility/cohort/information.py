"""What each imaging modality knows about each characteristic: the cohort's ground truth.

Each modality ``m`` (structural = T1 + FLAIR, DWI, connectivity) observes every
characteristic's liability ``l_c`` through its own independent noise::

    o[m, c] = rho[m, c] * l_c + sqrt(1 - rho[m, c]^2) * e[m, c]      (standardised)

``rho^2`` is the share of the liability's variance that the modality carries. Every planted
brain effect of a participant (head size, atrophy, ventricles, white-matter lesions, diffusion,
network strengths and the many small regional effects) is made from these observations plus
nuisance that carries no information, so ``o`` is exactly the information the generator put
into the images: the ceilings of :mod:`legibility.cohort.ground_truth` are computed from it.

Where ``rho^2`` comes from: for the four constitutional targets (the only ones the paper
models from imaging alone), **calibrated to the paper's table** so that the ceiling of each
single-modality input set lands near the paper's best published score for it; for body fat
and HbA1c, calibrated so that imaging adds to the constitutional block what it adds in the
paper's table (:mod:`legibility.cohort.calibration`; re-run with
``python scripts/calibrate_information.py``). For the others, from ``COHORT_FACTS.md`` (mostly
**A** values): imaging carries little beyond what the constitutional characteristics already
say.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from legibility.study import TARGETS

__all__ = ["MODALITIES", "MODALITY_OF_INPUT", "RHO2", "observe", "unshrunk"]

MODALITIES = ("structural", "dwi", "connectivity")
MODALITY_OF_INPUT = {"t1": "structural", "flair": "structural", "dwi": "dwi",
                     "connectivity": "connectivity"}

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


def observe(liabilities: pd.DataFrame, rng: np.random.Generator,
            rho2: dict[str, tuple[float, float, float]] | None = None) -> dict[str, pd.DataFrame]:
    """Each modality's standardised observation of every liability.

    Returns
    -------
    dict
        ``{modality: DataFrame(n x 25)}`` with the target keys as columns.
    """
    rho2 = RHO2 if rho2 is None else rho2
    lia = liabilities  # standard normal by construction (population constants, not a fit)
    out = {}
    for j, m in enumerate(MODALITIES):
        r = np.sqrt(np.array([rho2[c][j] for c in lia.columns]))
        noise = rng.standard_normal(lia.shape)
        out[m] = pd.DataFrame(lia.to_numpy() * r + noise * np.sqrt(1 - r**2),
                              columns=lia.columns, index=lia.index)
    return out


def unshrunk(obs: dict[str, pd.DataFrame], modality: str, key: str,
             rho2: dict[str, tuple[float, float, float]] | None = None) -> np.ndarray:
    """``o / rho``: the liability as the modality sees it, noise included (0 if rho ~ 0)."""
    rho2 = RHO2 if rho2 is None else rho2
    r = np.sqrt(rho2[key][MODALITIES.index(modality)])
    return obs[modality][key].to_numpy() / r if r > 0.05 else np.zeros(len(obs[modality]))
