"""The latent model behind the synthetic cohort's 25 characteristics.

Every participant draws a handful of latent traits (the ground truth); each characteristic is
a function of them plus its own noise. Each characteristic also has a *liability*: a
standard-normal score from which it is made (binary ones by a threshold, continuous ones by a
monotone map), and it is the liabilities that the imaging modalities observe
(see :mod:`legibility.cohort.information`).

Calibration sources, each marked: **S** seen in a published
source, **A** approximate (a plausible default, not truth). Values at the imaging visit.

Latent traits (all standard normal unless stated)
-------------------------------------------------
``male``        0/1, P = 0.475 (S: 47-48% male, Cox 2019)
``age``         years, normal(63.1, 7.5) truncated to [44, 82] (S: Cox 2019)
``adiposity``   body-fat / BMI factor
``stature``     body-size factor independent of adiposity
``vascular``    vascular risk beyond age and adiposity
``allergy``     atopic diathesis shared by atopy and asthma
``smoke``       propensity to smoke
``neuro``       general neuroticism factor; ``dep`` and ``worry`` its two facets (S/A:
                one general factor plus "depressed affect" and "worry/anxiety" facets)
``speed``       processing speed
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from legibility.study import TARGETS

__all__ = ["LATENTS", "LINKS", "PREVALENCE", "draw_latents", "make_characteristics"]

LATENTS = (
    "male", "age", "adiposity", "stature", "vascular", "allergy", "smoke",
    "neuro", "dep", "worry", "speed",
)

# "Yes" prevalence of each binary characteristic at the imaging visit.
PREVALENCE = {
    "sex": 0.475,  # S: 47-48% male
    "handedness": 0.89,  # S: ~90% right, 10% left, ~1% ambidextrous (0 = left or ambidextrous)
    "smoking": 0.40,  # S/A: ever smoked (previous 35% + current ~5%)
    "hypertension": 0.28,  # A: 25-30%
    "atopy": 0.23,  # A: 22-25%
    "asthma": 0.115,  # A: 11-12%
    # A: neuroticism items, % "yes" (worrier/anxious 57% split into
    # anxious and worry as the paper's items)
    "mood_swings": 0.44, "miserableness": 0.42, "irritability": 0.27, "sensitivity": 0.54,
    "fed_up": 0.42, "nervous": 0.24, "anxious": 0.57, "tense": 0.16, "worry": 0.53,
    "lonely": 0.18, "guilty": 0.27,
}

# Neuroticism items and the facet each loads on besides the general factor.
_ITEM_FACET = {
    "mood_swings": "dep", "miserableness": "dep", "irritability": "dep", "fed_up": "dep",
    "lonely": "dep", "guilty": "dep",
    "sensitivity": "worry", "nervous": "worry", "anxious": "worry", "tense": "worry",
    "worry": "worry",
}
# How much more often women answer "yes" to each item (loading of -sex on the item's
# liability). Women score higher on neuroticism items (A); the size per item is calibrated
# to the paper's table (the best balanced accuracy of each item, reached mostly through sex).
_ITEM_SEX = {
    "mood_swings": 0.16, "miserableness": 0.28, "irritability": 0.17, "sensitivity": 0.25,
    "fed_up": 0.155, "nervous": 0.13, "anxious": 0.21, "tense": 0.11, "worry": 0.2,
    "lonely": 0.155, "guilty": 0.155,
}


# Characteristics that are a nonlinear (monotone) map of their liability ``g``, in original
# units: the right-skewed ones. Every other continuous characteristic is linear in its latent
# traits. The ground-truth ceilings use these maps to build the best predictor
# (:mod:`legibility.cohort.ground_truth`), so they are defined once, here.
LINKS = {
    # HbA1c (S/A): ~35.5 (SD 3.7) mmol/mol, right-skewed.
    "hba1c": lambda g: 35.5 + 3.5 * (np.exp(0.35 * g) - np.exp(0.35**2 / 2)) / 0.36,
    # Reaction time (A): ~570 ms, SD ~115, right-skewed.
    "reaction_time": lambda g: 560.0 * np.exp(0.19 * g),
}


def _sd(*loadings: float) -> float:
    """The unique-noise loading that makes a sum of standard-normal terms unit variance."""
    rest = 1.0 - sum(v * v for v in loadings)
    if rest < 0:
        raise ValueError("loadings explain more than all the variance")
    return float(np.sqrt(rest))


def draw_latents(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the latent traits of ``n`` participants."""
    male = (rng.random(n) < PREVALENCE["sex"]).astype(float)
    a, b = (44 - 63.1) / 7.5, (82 - 63.1) / 7.5
    age = stats.truncnorm.rvs(a, b, loc=63.1, scale=7.5, size=n, random_state=rng)
    z = {k: rng.standard_normal(n) for k in LATENTS if k not in ("male", "age")}
    return pd.DataFrame({"male": male, "age": age, **z})


def _binary(liability: np.ndarray, prevalence: float) -> np.ndarray:
    """Threshold a (near) standard-normal liability at the given prevalence."""
    return (liability > stats.norm.ppf(1 - prevalence)).astype(np.int64)


def make_characteristics(lat: pd.DataFrame, rng: np.random.Generator):
    """The 25 characteristics and their liabilities from the latent traits.

    Kept whole: one equation per characteristic, in the study's order, so that the generative
    model reads top to bottom as its documentation describes it (split by domain, the shared
    latent terms would be passed around between the pieces).

    Returns
    -------
    values : DataFrame
        One column per target key, in original units (binary ones 0/1).
    liabilities : DataFrame
        One standard-normal-scaled column per target key: what imaging observes.
    """
    n = len(lat)
    e = {k: rng.standard_normal(n) for k in TARGETS}  # each characteristic's own noise
    male = lat["male"].to_numpy()
    sx = 2 * male - 1  # +1 male, -1 female
    za = (lat["age"].to_numpy() - 63.1) / 7.5
    adi, sta, vas = lat["adiposity"].to_numpy(), lat["stature"].to_numpy(), lat["vascular"].to_numpy()
    val, lia = {}, {}

    # --- constitutional
    # Sex liability: a standard normal whose threshold at 47.5% gives the 0/1 value
    # (drawn on the side of the threshold that the sex already drawn says).
    u = stats.norm.cdf(e["sex"])  # uniform(0, 1)
    cut = 1 - PREVALENCE["sex"]
    lia["sex"] = stats.norm.ppf(np.where(male == 1, cut + u * (1 - cut), u * cut))
    val["sex"] = male.astype(np.int64)
    val["age"] = lat["age"].to_numpy()
    lia["age"] = za
    # Weight (A): men ~85 +- 14 kg, women ~70 +- 13 kg; within sex mostly adiposity (0.9),
    # then stature. Strong adiposity loading so body fat reads from weight and sex with
    # R^2 ~0.8 (S: body-fat % vs BMI r 0.85 women, 0.79 men) -- calibrated to the paper's
    # table (Body Fat from non-imaging data R^2 0.79-0.83).
    w_sd = np.where(male == 1, 14.0, 13.0)
    w_std = 0.88 * adi + 0.45 * sta + _sd(0.88, 0.45) * e["weight"]
    val["weight"] = np.where(male == 1, 85.0, 70.0) + w_sd * w_std
    lia["weight"] = (val["weight"] - 77.1) / 15.5
    # Handedness (S, de Kovel 2019): ~10% left, men more often left.
    lia["handedness"] = -0.12 * sx + _sd(0.12) * e["handedness"]
    val["handedness"] = _binary(lia["handedness"], PREVALENCE["handedness"])

    # --- disease
    lia["smoking"] = 0.75 * lat["smoke"].to_numpy() + 0.12 * sx + 0.1 * za + _sd(0.75, 0.12, 0.1) * e["smoking"]
    val["smoking"] = _binary(lia["smoking"], PREVALENCE["smoking"])
    # Hypertension (A): rises steeply with age, with adiposity and vascular risk.
    lia["hypertension"] = 0.35 * za + 0.3 * adi + 0.4 * vas + 0.1 * sx + _sd(0.35, 0.3, 0.4, 0.1) * e["hypertension"]
    val["hypertension"] = _binary(lia["hypertension"], PREVALENCE["hypertension"])
    alg, neuro = lat["allergy"].to_numpy(), lat["neuro"].to_numpy()
    lia["atopy"] = 0.7 * alg - 0.12 * za - 0.05 * sx + _sd(0.7, 0.12, 0.05) * e["atopy"]
    val["atopy"] = _binary(lia["atopy"], PREVALENCE["atopy"])
    # Asthma (A): with adiposity, more often in adult women, and with anxiety (A: asthma-anxiety
    # comorbidity); the sizes calibrated to the paper's table (asthma from non-imaging data).
    lia["asthma"] = (0.55 * alg + 0.15 * adi - 0.12 * sx + 0.15 * neuro
                     + _sd(0.55, 0.15, 0.12, 0.15) * e["asthma"])
    val["asthma"] = _binary(lia["asthma"], PREVALENCE["asthma"])
    # Body fat % (S/A): women 35.5 (SD 6.7), men ~25 (SD 6); all 31.3 (SD 8.5); rises with age.
    bf_std = 0.9 * adi + 0.15 * za + _sd(0.9, 0.15) * e["body_fat"]
    val["body_fat"] = np.where(male == 1, 25.0, 35.5) + np.where(male == 1, 6.0, 6.7) * bf_std
    lia["body_fat"] = (val["body_fat"] - 30.5) / 8.5

    # --- serology
    smk = val["smoking"]
    # Hb (A/S): men 14.9 (1.0), women 13.5 (0.9) g/dL; higher in smokers; higher with
    # adiposity and age, the sizes calibrated to the paper's table (best Hb R^2 0.52).
    hb_std = 0.25 * (smk - 0.4) + 0.42 * adi + 0.15 * za + _sd(0.25 * 0.49, 0.42, 0.15) * e["hb"]
    val["hb"] = np.where(male == 1, 14.9, 13.5) + np.where(male == 1, 1.0, 0.9) * hb_std
    lia["hb"] = (val["hb"] - 14.17) / 1.2
    # HDL (S/A): 1.5 (SD 0.4) mmol/L; women ~0.3 higher; falls with adiposity.
    hdl_std = -0.4 * adi - 0.1 * vas + _sd(0.4, 0.1) * e["hdl"]
    val["hdl"] = 1.5 - 0.15 * sx + 0.33 * hdl_std
    lia["hdl"] = (val["hdl"] - 1.5) / 0.4
    # HbA1c (S/A): ~35.5 (SD 3.7) mmol/mol, right-skewed; rises with age and adiposity (sizes
    # calibrated to the paper's table: the constitutional block explains ~0.10 of it).
    g = 0.22 * za + 0.28 * adi + 0.1 * vas + _sd(0.22, 0.28, 0.1) * e["hba1c"]
    val["hba1c"] = LINKS["hba1c"](g)
    lia["hba1c"] = g
    # LDL (S): 3.5-3.6 (SD 0.9) mmol/L; lower in older men and in the hypertensive (statin
    # use, A); the sizes calibrated to the paper's table (LDL R^2 0.07 from the constitutional
    # block, 0.12 with the disease block).
    htn = val["hypertension"] - PREVALENCE["hypertension"]
    g = (-0.2 * za - 0.15 * sx + 0.1 * adi - 0.45 * htn
         + _sd(0.2, 0.15, 0.1, 0.45 * 0.45) * e["ldl"])
    val["ldl"] = 3.55 + 0.9 * g
    lia["ldl"] = g

    # --- psychology: general factor + facet + women higher + lower with age (A).
    for item, facet in _ITEM_FACET.items():
        f, b = lat[facet].to_numpy(), _ITEM_SEX[item]
        lia[item] = 0.55 * neuro + 0.35 * f - b * sx - 0.1 * za + _sd(0.55, 0.35, b, 0.1) * e[item]
        val[item] = _binary(lia[item], PREVALENCE[item])
    # Reaction time (A): ~570 ms, SD ~115, right-skewed, slower with age and low speed.
    g = 0.25 * za - 0.45 * lat["speed"].to_numpy() + 0.05 * sx + _sd(0.25, 0.45, 0.05) * e["reaction_time"]
    val["reaction_time"] = LINKS["reaction_time"](g)
    lia["reaction_time"] = g

    # Physiological bounds (liabilities are kept unclipped).
    val["weight"] = np.clip(val["weight"], 38.0, 200.0)
    val["body_fat"] = np.clip(val["body_fat"], 5.0, 60.0)
    val["hdl"] = np.clip(val["hdl"], 0.3, 4.0)
    val["ldl"] = np.clip(val["ldl"], 0.5, 9.0)

    cols = list(TARGETS)
    values = pd.DataFrame({k: val[k] for k in cols})
    liabilities = pd.DataFrame({k: np.asarray(lia[k], dtype=float) for k in cols})
    return values, liabilities
