"""The paper's domain analyses: which inputs help which domain, by linear mixed-effects models.

Per domain, an outcome (balanced accuracy, or R² on the continuous serology targets) is
regressed on 0/1 indicators of the inputs each model used, with a random intercept per target
(``statsmodels`` MixedLM, REML). The models are defined once, in :data:`DOMAIN_MODELS`, with the
published flag columns as term names (``T1`` stands for structural imaging: T1 and FLAIR always
enter together).

A term that does not vary within a domain's models (a grid that never used DWI, say) cannot be
estimated: it is dropped from the fit and reported with ``status`` = ``not estimable``. A fit
that fails, or does not converge, says so in ``status``; nothing is dropped silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from legibility import paths
from legibility.errors import LegibilityError
from legibility.study import DOMAINS, target

__all__ = ["DOMAIN_MODELS", "DomainModel", "domain_effects", "fetch_published", "load_metrics", "stars"]

# Published flag column -> a name the formula language accepts.
_SAFE = {"T1": "T1", "DWI": "DWI", "rsfMRI connectivity": "Connectivity", "Serology": "Serology",
         "Disease": "Disease", "Psychology": "Psychology", "Balanced accuracy": "BA", "r2": "R2"}
_PUBLISHED = {v: k for k, v in _SAFE.items()}


@dataclass(frozen=True)
class DomainModel:
    domain: str  # a key of DOMAINS
    outcome: str  # "Balanced accuracy" or "r2"
    terms: tuple[str, ...]  # published flag names; "T1:DWI" for the interaction
    continuous_only: bool = False  # fit on the domain's continuous targets only

    @property
    def formula(self) -> str:
        return f"{self.outcome} ~ " + " + ".join(self.terms)


_IMAGING = ("T1", "DWI", "rsfMRI connectivity")
DOMAIN_MODELS: tuple[DomainModel, ...] = (
    DomainModel("constitutional", "Balanced accuracy", _IMAGING),
    DomainModel("psychology", "Balanced accuracy", ("Serology", "Disease", *_IMAGING)),
    DomainModel("disease", "Balanced accuracy", ("Serology", "Psychology", *_IMAGING)),
    DomainModel("serology", "Balanced accuracy", ("Disease", "Psychology", *_IMAGING, "T1:DWI")),
    DomainModel("serology", "r2", ("Disease", "Psychology", *_IMAGING), continuous_only=True),
    DomainModel("serology", "r2", ("Disease", "Psychology", *_IMAGING, "T1:DWI"), continuous_only=True),
)

RESULT_COLUMNS = ("domain", "outcome", "formula", "term", "coef", "se", "z", "p", "ci_low", "ci_high", "n",
                  "n_targets", "status")


def load_metrics(source) -> pd.DataFrame:
    """A metrics table: a CSV path, or ``"published"`` for the paper's table (a local file from
    ``LEGIBILITY_PAPER_METRICS`` if set, else downloaded once with its checksum and cached).
    Only test rows are kept; the published table's unnamed index column is dropped."""
    if str(source) == "published":
        import os

        local = os.environ.get("LEGIBILITY_PAPER_METRICS")
        source = Path(local) if local else fetch_published()
    path = Path(source)
    if not path.exists():
        raise LegibilityError(f"No metrics table at {path}: give a CSV from `legibility sweep` or 'published'.")
    table = pd.read_csv(path)
    table = table.drop(columns=[c for c in table.columns if c.startswith("Unnamed")])
    missing = {"Target", "Inputs", "Balanced accuracy", "r2", "Domain", *_IMAGING} - set(table.columns)
    if missing:
        raise LegibilityError(f"{path} lacks the column(s) {', '.join(sorted(missing))} of the published "
                              f"schema; is it a metrics_comparison_test.csv?")
    if "Mode" in table:
        table = table[table["Mode"].str.lower() == "test"]
    return table.reset_index(drop=True)


def fetch_published() -> Path:
    """Download the paper's table from its upstream address (checked by sha256) into the user cache."""
    import pooch

    return Path(pooch.retrieve(paths.PUBLISHED_METRICS_URL, known_hash=f"sha256:{paths.PUBLISHED_METRICS_SHA256}",
                               fname="metrics_comparison_test.csv", path=paths.user_cache() / "paper",
                               progressbar=False))


def _design(table: pd.DataFrame) -> pd.DataFrame:
    d = pd.DataFrame({"Target": table["Target"].to_numpy()})
    for flag in ("T1", "DWI", "rsfMRI connectivity", "Serology", "Disease", "Psychology"):
        d[_SAFE[flag]] = (table[flag].astype(str).str.lower() == "yes").astype(float).to_numpy()
    d["BA"] = table["Balanced accuracy"].astype(float).to_numpy()
    d["R2"] = table["r2"].astype(float).to_numpy()
    return d


def _fit_one(spec: DomainModel, table: pd.DataFrame) -> list[dict]:
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    rows = table[table["Domain"] == DOMAINS[spec.domain].name]
    if spec.continuous_only:
        rows = rows[np.array([not target(t).is_binary for t in rows["Target"]], dtype=bool)]
    d = _design(rows)
    base = {"domain": DOMAINS[spec.domain].name, "outcome": spec.outcome, "formula": spec.formula,
            "n": len(d), "n_targets": d["Target"].nunique()}

    def safe(term):
        return ":".join(_SAFE[t] for t in term.split(":"))

    def column(term):
        return np.prod([d[_SAFE[t]].to_numpy() for t in term.split(":")], axis=0)

    # Terms enter in order; one that is constant, or a combination of those before it (the
    # intercept included), cannot be estimated from these models and is reported as such.
    usable, out, design = [], [], [np.ones(len(d))]
    for t in spec.terms:
        if not len(d) or np.unique(column(t)).size < 2:
            out.append({**base, "term": t, "status": "not estimable (constant in these models)"})
        elif np.linalg.matrix_rank(np.column_stack([*design, column(t)])) <= len(design):
            out.append({**base, "term": t, "status": "not estimable (collinear with the terms before it)"})
        else:
            usable.append(t)
            design.append(column(t))
    if len(d) < 3 or base["n_targets"] < 2:
        return [{**base, "term": t, "status": f"not fitted ({len(d)} models, {base['n_targets']} target(s))"}
                for t in spec.terms]
    formula = f"{_SAFE[spec.outcome]} ~ " + (" + ".join(safe(t) for t in usable) or "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = smf.mixedlm(formula, d, groups=d["Target"]).fit(reml=True)
        except Exception as err:  # singular designs and the like: reported, not raised
            return out + [{**base, "term": t, "status": f"fit failed: {type(err).__name__}: {err}"} for t in usable]
    notes = [str(w.message).split(";")[0].split("\n")[0].strip() for w in caught
             if issubclass(w.category, ConvergenceWarning)]
    boundary = any("boundary" in n for n in notes)
    status = "ok" if res.converged else f"did not converge ({notes[0] if notes else 'no message'})"
    if boundary:
        status += " (the random-intercept variance may be on the boundary)"
    ci = res.conf_int()
    for term in ["Intercept", *usable]:
        key = "Intercept" if term == "Intercept" else safe(term)
        out.append({**base, "term": term, "coef": float(res.fe_params[key]), "se": float(res.bse[key]),
                    "z": float(res.tvalues[key]), "p": float(res.pvalues[key]), "ci_low": float(ci.loc[key, 0]),
                    "ci_high": float(ci.loc[key, 1]), "status": status})
    order = ["Intercept", *spec.terms]
    return sorted(out, key=lambda r: order.index(r["term"]))


def domain_effects(metrics: pd.DataFrame) -> pd.DataFrame:
    """Every fit of :data:`DOMAIN_MODELS` on a test metrics table; one row per term.

    Columns: ``domain, outcome, formula, term, coef, se, z, p, ci_low, ci_high, n`` (models in
    the fit), then ``n_targets`` and ``status`` (``ok``, ``did not converge``, either followed by
    statsmodels' convergence warnings in brackets; ``not estimable ...``, ``not fitted ...`` or
    ``fit failed: ...``)."""
    rows = [r for spec in DOMAIN_MODELS for r in _fit_one(spec, metrics)]
    table = pd.DataFrame(rows)
    for c in RESULT_COLUMNS:
        if c not in table:
            table[c] = np.nan
    return table[list(RESULT_COLUMNS)]


def stars(p: float) -> str:
    """``***`` p<0.001, ``**`` p<0.01, ``*`` p<0.05, else empty."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
