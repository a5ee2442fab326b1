"""How the information each modality carries (``rho^2`` in :mod:`legibility.cohort.information`)
was calibrated to the paper, as a function anyone can re-run.

For each calibrated (characteristic, modality) the share ``rho^2`` is found by bisection so that
a ground-truth ceiling (:func:`legibility.cohort.ground_truth.ceiling`, on a reference sample of
the generator) equals a value of the paper's published table:

- ``score``: the ceiling of the modality alone, against the paper's score for that input set
  (the four constitutional characteristics, the only ones the paper modelled from imaging alone);
- ``gain``: what the modality adds to the constitutional block, against the same difference in
  the paper's table (body fat and HbA1c, where imaging + C beats C alone).

Every other ``rho^2`` comes from the literature (cited where each is set) and is not calibrated.
The observation noise is drawn once for a fixed seed, so the ceiling moves smoothly with
``rho^2`` and bisection is exact up to the sample's own sampling error (report it beside).

Re-run with ``python scripts/calibrate_information.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from legibility.cohort.information import MODALITIES, RHO2
from legibility.study import TARGETS, parse_inputs_label

__all__ = ["CALIBRATION", "CalibrationTarget", "calibrate", "calibrated_value"]

_MODALITY_INPUTS = {"structural": "FLAIR + T1", "dwi": "DWI", "connectivity": "rsfMRI Connectivity"}


@dataclass(frozen=True)
class CalibrationTarget:
    key: str  # the characteristic (a target key)
    modality: str  # one of MODALITIES
    kind: str  # "score" (the modality alone) or "gain" (modality + C minus C)
    paper: float  # the value in the paper's published table

    @property
    def metric(self) -> str:
        return TARGETS[self.key].metric

    @property
    def inputs(self) -> list[str]:
        alone = _MODALITY_INPUTS[self.modality]
        return [alone] if self.kind == "score" else [f"{alone} + Non-imaging data (C)", "Non-imaging data (C)"]


# The paper's published table (metrics_comparison_test.csv): best single-modality scores of the
# constitutional targets, and what imaging adds to the constitutional block for body fat and HbA1c.
# tests/test_calibration.py checks these numbers against the table itself.
CALIBRATION: tuple[CalibrationTarget, ...] = (
    CalibrationTarget("sex", "structural", "score", 0.995),
    CalibrationTarget("sex", "dwi", "score", 0.989),
    CalibrationTarget("sex", "connectivity", "score", 0.915),
    CalibrationTarget("age", "structural", "score", 0.859),
    CalibrationTarget("age", "dwi", "score", 0.775),
    CalibrationTarget("age", "connectivity", "score", 0.462),
    CalibrationTarget("weight", "structural", "score", 0.622),
    CalibrationTarget("weight", "dwi", "score", 0.498),
    CalibrationTarget("weight", "connectivity", "score", 0.271),
    CalibrationTarget("handedness", "connectivity", "score", 0.577),
    CalibrationTarget("body_fat", "structural", "gain", 0.818 - 0.788),
    CalibrationTarget("body_fat", "dwi", "gain", 0.817 - 0.788),
    CalibrationTarget("hba1c", "structural", "gain", 0.146 - 0.104),
)


def calibrated_value(target: CalibrationTarget, rho2_value: float, n: int = 20_000, seed: int = 12345,
                     rho2: dict | None = None) -> float:
    """The statistic ``target`` calibrates (a ceiling, or a gain of ceilings) when the
    modality carries ``rho2_value`` of the characteristic's liability."""
    from legibility.cohort.ground_truth import ceiling, reference_sample

    table = dict(RHO2 if rho2 is None else rho2)
    shares = list(table[target.key])
    shares[MODALITIES.index(target.modality)] = float(rho2_value)
    table[target.key] = tuple(shares)
    values, obs, lia = reference_sample(n, seed, table)
    scores = [ceiling(values, obs, TARGETS[target.key], parse_inputs_label(label), lia)[target.metric]
              for label in target.inputs]
    return float(scores[0] - scores[1]) if target.kind == "gain" else float(scores[0])


def calibrate(targets=CALIBRATION, n: int = 20_000, seed: int = 12345, steps: int = 22,
              progress: bool = True) -> pd.DataFrame:
    """Find each target's ``rho^2`` by bisection on ``-log10(1 - rho^2)`` (so that shares near 1,
    which sex needs, are resolved as finely as small ones).

    Returns
    -------
    DataFrame
        One row per target: ``key, modality, kind, metric, paper`` (the value aimed at),
        ``rho2`` (found), ``reached`` (the statistic at that share), ``rho2_now`` (the value in
        :data:`~legibility.cohort.information.RHO2`) and ``now`` (the statistic at it).
    """
    from tqdm.auto import tqdm

    rows = []
    for t in tqdm(targets, desc="calibrating rho^2", unit="share", disable=not progress):
        lo, hi = 0.0, 6.0  # rho^2 = 1 - 10^-u
        if calibrated_value(t, 0.0, n, seed) >= t.paper:
            hi = 0.0
        for _ in range(steps if hi > 0 else 0):
            mid = (lo + hi) / 2
            if calibrated_value(t, 1 - 10 ** -mid, n, seed) < t.paper:
                lo = mid
            else:
                hi = mid
        found = 1 - 10 ** -hi if hi > 0 else 0.0
        now = RHO2[t.key][MODALITIES.index(t.modality)]
        rows.append({"key": t.key, "modality": t.modality, "kind": t.kind, "metric": t.metric, "paper": t.paper,
                     "rho2": round(float(found), 5), "reached": calibrated_value(t, found, n, seed),
                     "rho2_now": now, "now": calibrated_value(t, now, n, seed)})
    return pd.DataFrame(rows)



def _main_score(table: pd.DataFrame) -> pd.Series:
    """Balanced accuracy for binary targets, R² for continuous ones (the grid's colour)."""
    binary = table.Target.map({t.display: t.is_binary for t in TARGETS.values()})
    return table["Balanced accuracy"].where(binary, table["r2"])


def calibration_checks(ceilings: pd.DataFrame, published: pd.DataFrame) -> dict:
    """How the ceilings of the whole grid stand against the paper's published table.

    Parameters
    ----------
    ceilings : DataFrame
        :func:`legibility.cohort.ground_truth.ceilings` (or a cohort's ``ground_truth.csv``).
    published : DataFrame
        The paper's ``metrics_comparison_test.csv``.

    Returns
    -------
    dict
        ``best``: per target, the paper's best score, the best ceiling and their difference;
        ``spearman_best``: rank correlation of the two over the 25 targets; ``pearson_all`` and
        ``mean_abs_diff_all``: over all 700 models; ``fusion``: for age, weight and sex, the
        ceiling from all imaging minus that from T1 + FLAIR.
    """
    from scipy import stats

    c = ceilings.assign(score=_main_score(ceilings))
    p = published.assign(score=_main_score(published))
    both = p.merge(c[["Target", "Inputs", "score"]], on=["Target", "Inputs"], suffixes=("_paper", "_ceiling"))
    best = both.groupby("Target")[["score_paper", "score_ceiling"]].max()
    best["difference"] = best.score_ceiling - best.score_paper
    by = c.set_index(["Target", "Inputs"]).score
    everything = "rsfMRI Connectivity + DWI + FLAIR + T1"
    fusion = {TARGETS[k].display: float(by[(TARGETS[k].display, everything)] - by[(TARGETS[k].display, "FLAIR + T1")])
              for k in ("age", "weight", "sex")}
    return {
        "best": best.sort_values("difference"),
        "spearman_best": float(stats.spearmanr(best.score_paper, best.score_ceiling)[0]),
        "pearson_all": float(stats.pearsonr(both.score_paper, both.score_ceiling)[0]),
        "mean_abs_diff_all": float((both.score_paper - both.score_ceiling).abs().mean()),
        "fusion": fusion,
    }
