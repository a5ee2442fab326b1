"""The paper's domain analyses: which inputs help which domain, by linear mixed-effects models.

Per domain, an outcome (balanced accuracy, or R² on the continuous serology targets) is
regressed on 0/1 indicators of the inputs each model used, with a random intercept per target,
fitted by REML as the paper did with ``nlme::lme(outcome ~ terms, random = ~1 | Target)`` in R.
The models are defined once, in :data:`DOMAIN_MODELS`, with the published flag columns as term
names (``T1`` stands for structural imaging: T1 and FLAIR always enter together). As in the
paper's script, the R² models use only the rows with ``r2 > 0``.

The fit is nlme's, number for number (``tests/test_analysis_r.py`` runs R to check it): the
REML criterion, profiled over the residual variance, is maximised in the one remaining
parameter (the ratio of the between-target to the residual variance); coefficients and their
covariance are the generalised least squares ones at that ratio; each coefficient is tested by
a t-statistic on nlme's "containment" degrees of freedom, and its 95% interval uses the same t.
The column holding the t-statistic is named ``t`` (it was ``z``, a Wald z, before).

A term that does not vary within a domain's models (a grid that never used DWI, say) cannot be
estimated: it is dropped from the fit and reported with ``status`` = ``not estimable``. A fit
that cannot be made says so in ``status``; nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from legibility import paths
from legibility.errors import LegibilityError
from legibility.study import DOMAINS, target

__all__ = ["DOMAIN_MODELS", "DomainModel", "containment_df", "domain_effects", "fetch_published", "load_metrics",
           "reml_random_intercept", "stars"]

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

RESULT_COLUMNS = ("domain", "outcome", "formula", "term", "coef", "se", "t", "p", "ci_low", "ci_high", "n",
                  "n_targets", "status", "df", "icc")
# Below this intra-class correlation the random-intercept variance is taken to sit at its
# boundary (zero): the fit is then ordinary least squares, and the status says so.
BOUNDARY_ICC = 1e-4


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


def reml_random_intercept(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> dict:
    """REML fit of ``y = X b + u[group] + e``, ``u ~ N(0, tau2)``, ``e ~ N(0, sigma2)``.

    With one random intercept the REML log-likelihood, profiled over ``sigma2``, depends on the
    ratio ``lam = tau2 / sigma2`` alone. Its maximum over ``log lam`` is bracketed on a grid and
    found as the root of its analytic derivative (to machine precision: the criterion itself is
    too flat at its optimum to locate it better than about 1e-6); ``lam = 0`` (the boundary,
    ordinary least squares) is taken when it is no worse. Per group ``g`` of size ``n``,
    ``(I + lam J)^-1 = I - lam / (1 + n lam) J``, so every product needs only group sums.

    Returns
    -------
    dict
        ``coef`` (GLS estimates), ``cov`` (their covariance, ``sigma2 (X' H^-1 X)^-1`` as in
        nlme), ``sigma2``, ``tau2``, ``icc`` (``tau2 / (tau2 + sigma2)``) and ``reml`` (the
        maximised log-likelihood, up to a constant).
    """
    from scipy.optimize import brentq, minimize_scalar

    y, X = np.asarray(y, float), np.asarray(X, float)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    size = np.bincount(codes).astype(float)
    sx = np.stack([np.bincount(codes, weights=X[:, j]) for j in range(X.shape[1])], axis=1)  # group sums
    sy = np.bincount(codes, weights=y)
    xx, xy = X.T @ X, X.T @ y
    n, p = X.shape

    def solve(lam):  # GLS at this ratio: coefficients, X' H^-1 X, r' H^-1 r and the residuals' group sums
        w = lam / (1.0 + size * lam)
        a = xx - (sx * w[:, None]).T @ sx
        coef = np.linalg.solve(a, xy - (sx * w[:, None]).T @ sy)
        r = y - X @ coef
        rg = np.bincount(codes, weights=r)
        return coef, a, r @ r - w @ rg**2, rg

    def criterion(lam):  # minus twice the profiled REML log-likelihood, up to a constant
        _, a, rss, _ = solve(lam)
        return (n - p) * np.log(rss / (n - p)) + np.log1p(size * lam).sum() + np.linalg.slogdet(a)[1]

    def slope(g):  # d criterion / d log(lam)
        lam = np.exp(g)
        _, a, rss, rg = solve(lam)
        dw = 1.0 / (1.0 + size * lam) ** 2  # d/dlam of lam / (1 + n lam)
        trace = dw @ np.einsum("gi,gi->g", sx, np.linalg.solve(a, sx.T).T)
        return lam * (-(n - p) * (dw @ rg**2) / rss + (size / (1.0 + size * lam)).sum() - trace)

    grid = np.linspace(np.log(1e-8), np.log(1e8), 65)
    i = int(np.argmin([criterion(np.exp(g)) for g in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if slope(lo) < 0 < slope(hi):
        g = brentq(slope, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    else:  # the optimum at an end of the grid
        g = minimize_scalar(lambda g: criterion(np.exp(g)), bounds=(lo, hi), method="bounded").x
    lam = float(np.exp(g))
    if criterion(0.0) <= criterion(lam):
        lam = 0.0
    coef, a, rss, _ = solve(lam)
    sigma2 = rss / (n - p)
    return {"coef": coef, "cov": sigma2 * np.linalg.inv(a), "sigma2": sigma2, "tau2": lam * sigma2,
            "icc": lam / (1.0 + lam), "reml": -0.5 * criterion(lam)}


def containment_df(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """nlme's degrees of freedom for each column of ``X`` (the first a constant intercept) under
    one level of grouping: ``n_groups - 1 - k_between`` for the columns constant within every
    group (``k_between`` of them), ``N - n_groups - k_within`` for those varying within some
    group (``k_within``), and the larger of the two for the intercept."""
    X = np.asarray(X, float)
    codes = np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = codes.max() + 1
    spread = pd.DataFrame(X).groupby(codes).agg(lambda v: v.max() - v.min()).to_numpy()  # (groups, columns)
    within = (spread > np.sqrt(np.finfo(float).eps) * np.maximum(np.abs(X).max(axis=0), 1.0)).any(axis=0)
    within[0] = False
    between_df = n_groups - 1 - int((~within[1:]).sum())
    within_df = len(X) - n_groups - int(within.sum())
    df = np.where(within, within_df, between_df).astype(float)
    df[0] = max(between_df, within_df)
    return df


def _fit_one(spec: DomainModel, table: pd.DataFrame) -> list[dict]:
    from scipy import stats

    rows = table[table["Domain"] == DOMAINS[spec.domain].name]
    if spec.continuous_only:
        rows = rows[np.array([not target(t).is_binary for t in rows["Target"]], dtype=bool)]
    d = _design(rows)
    outcome = _SAFE[spec.outcome]
    d = d[d[outcome].notna()]
    if spec.outcome == "r2":
        d = d[d[outcome] > 0]  # as the paper's script did: models with no skill are left out
    d = d.reset_index(drop=True)
    base = {"domain": DOMAINS[spec.domain].name, "outcome": spec.outcome, "formula": spec.formula,
            "n": len(d), "n_targets": d["Target"].nunique()}

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
    X = np.column_stack(design)
    df = containment_df(X, d["Target"].to_numpy()) if len(d) else np.zeros(1)
    if base["n_targets"] < 2 or df.min() < 1:
        return [{**base, "term": t, "status": f"not fitted ({len(d)} models, {base['n_targets']} target(s), "
                 f"{len(design)} coefficients: too few to test them)"} for t in spec.terms]
    try:
        with np.errstate(divide="raise", invalid="raise"):
            fit = reml_random_intercept(d[outcome].to_numpy(), X, d["Target"].to_numpy())
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as err:  # an exact fit and the like: reported
        return out + [{**base, "term": t, "status": f"fit failed: {type(err).__name__}: {err}"}
                      for t in ["Intercept", *usable]]
    status = "ok"
    if fit["icc"] < BOUNDARY_ICC:
        status += (f" (the random-intercept variance is at its boundary, ICC {fit['icc']:.1g}: "
                   "an ordinary least-squares fit)")
    se = np.sqrt(np.diag(fit["cov"]))
    t_value = fit["coef"] / se
    half = stats.t.ppf(0.975, df) * se
    for k, term in enumerate(["Intercept", *usable]):
        out.append({**base, "term": term, "coef": float(fit["coef"][k]), "se": float(se[k]),
                    "t": float(t_value[k]), "df": float(df[k]), "p": float(2 * stats.t.sf(abs(t_value[k]), df[k])),
                    "ci_low": float(fit["coef"][k] - half[k]), "ci_high": float(fit["coef"][k] + half[k]),
                    "icc": float(fit["icc"]), "status": status})
    order = ["Intercept", *spec.terms]
    return sorted(out, key=lambda r: order.index(r["term"]))


def domain_effects(metrics: pd.DataFrame) -> pd.DataFrame:
    """Every fit of :data:`DOMAIN_MODELS` on a test metrics table; one row per term, as nlme gives it.

    Columns: ``domain, outcome, formula, term, coef, se, t, p, ci_low, ci_high, n`` (models in
    the fit), then ``n_targets``, ``status``, ``df`` and ``icc``. ``t`` is the t-statistic
    (``coef / se``), ``df`` its containment degrees of freedom, ``p`` its two-sided p-value from
    the t distribution and ``ci_low, ci_high`` the 95% interval from the same t. ``icc`` is the
    fit's intra-class correlation, ``tau2 / (tau2 + sigma2)``: the share of the outcome's
    variance that lies between targets. ``status`` is ``ok`` (followed by a note in brackets
    when the random-intercept variance is at its boundary, ICC below :data:`BOUNDARY_ICC`),
    ``not estimable ...``, ``not fitted ...`` or ``fit failed: ...``."""
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
