"""The paper's domain analysis against the truth: the same mixed models on what the data allow
and on what learners reach.

The paper's domain effects (:mod:`legibility.analysis`, nlme's statistics) are fitted on up to
four tables of the published 700-row schema:

``ceiling``
    the ground-truth ceilings of a synthetic cohort (its ``ground_truth.csv``): what a perfect
    learner reads from each input set; an effect here is information in the data;
``linear peer``
    the linear peers of all 700 models on the same cohort (:func:`legibility.peers.linear_peers`),
    test scores, penalties chosen on validation: what a simple learner reaches at this ``n``;
``deep``
    the deep sweep's test scores, whatever models it holds (``metrics_comparison_test.csv``);
``published``
    the paper's own table (UK Biobank, 23,810 participants).

An effect the ceilings show is in the data; one only the trained models show comes from
training at a fixed ``n``: which inputs a learner can exploit, not what they carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from legibility import paths
from legibility.analysis import domain_effects, load_metrics, stars
from legibility.errors import LegibilityError

__all__ = ["SOURCES", "TRUTH_COLUMNS", "effects_by_source", "read_ceilings", "run_truth", "term_by_source",
           "truth_tables"]

SOURCES = ("ceiling", "linear peer", "deep", "published")
TRUTH_COLUMNS = ("source", "domain", "outcome", "formula", "term", "coef", "se", "t", "df", "p", "ci_low",
                 "ci_high", "n", "n_targets", "status", "icc")


def read_ceilings(data_path) -> pd.DataFrame:
    """The ground-truth ceilings of a synthetic cohort (``ground_truth.csv``): one row per model
    of the grid, in the published schema (``Mode`` is ``Ceiling``)."""
    path = Path(data_path) / paths.GROUND_TRUTH
    if not path.exists():
        raise LegibilityError(f"No {paths.GROUND_TRUTH} in {data_path}: the ceilings exist only for a synthetic "
                              "cohort (`legibility cohort --out DIR`).")
    return pd.read_csv(path)


def truth_tables(data_path, cache=None, sweep_metrics=None, published=None,
                 progress: bool = False) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The tables the analysis is fitted on, one per source of :data:`SOURCES` that is given.

    Parameters
    ----------
    data_path : path
        A synthetic cohort (its ``ground_truth.csv`` gives the ceilings).
    cache : Cache, optional
        Its cache; the linear peers of all 700 models are fitted on it. None: no peers.
    sweep_metrics : path, optional
        A deep sweep's ``metrics_comparison_test.csv``; None or absent: no deep source.
    published : str or path, optional
        ``"published"`` (:func:`legibility.analysis.load_metrics`) or a path to the paper's
        table; None: left out.
    progress : bool
        A progress bar over the linear peers.

    Returns
    -------
    tables : dict
        ``{source: test table}``.
    notes : dict
        ``{source: why it is missing}`` for each source asked for that could not be read.
    """
    tables, notes = {"ceiling": read_ceilings(data_path)}, {}
    if cache is not None:
        from legibility.peers import linear_peers

        peers = linear_peers(cache, progress=progress)
        tables["linear peer"] = peers[peers.Mode == "Test"].reset_index(drop=True)
    if sweep_metrics:
        if Path(sweep_metrics).exists():
            tables["deep"] = load_metrics(sweep_metrics)
        else:
            notes["deep"] = f"no deep sweep at {sweep_metrics}"
    if published:
        try:
            tables["published"] = load_metrics(published)
        except Exception as err:  # offline, or a damaged download: said, not raised
            notes["published"] = f"the published table could not be read ({type(err).__name__}: {err})"
    return tables, notes


def effects_by_source(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`legibility.analysis.domain_effects` of each table, stacked: one row per (source,
    fit, term), with the columns of :data:`TRUTH_COLUMNS` (``t`` the t-statistic on nlme's
    containment ``df``)."""
    parts = [domain_effects(table).assign(source=name) for name, table in tables.items()]
    out = pd.concat(parts, ignore_index=True)
    return out[list(TRUTH_COLUMNS)]


def term_by_source(effects: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The fits the paper drew (balanced accuracy per domain; R² of the additive serology model),
    one row per (domain, term) and per source a cell ``coef (se) stars``: the table of the record."""
    from legibility.figures.effects import PANEL_ORDER, domain_panel_rows
    from legibility.study import DOMAINS

    rows = []
    for source, group in effects.groupby("source", sort=False):
        for key in PANEL_ORDER:
            for r in domain_panel_rows(group, key).itertuples():
                cell = (f"{r.coef:+.{digits}f} ({r.se:.{digits}f}){stars(r.p)}" if np.isfinite(r.coef)
                        else str(r.status).split(" (")[0])
                rows.append({"domain": DOMAINS[key].name, "outcome": r.outcome, "term": r.term, "source": source,
                             "cell": cell})
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["domain", "outcome", "term"], columns="source", values="cell", aggfunc="first",
                             sort=False)
    return wide[[s for s in SOURCES if s in wide.columns]].reset_index()


def run_truth(data_path, out, figures_dir=None, sweep_metrics=None, published=None, side: int = 32,
              cache_root=None, formats=("png", "pdf"), progress: bool = False) -> dict:
    """The whole analysis: the tables, the effects, the record and the figure.

    Writes to ``out``: ``linear_peers.csv`` (the 700 peers' test rows, the published schema),
    ``truth_effects.csv`` (:func:`effects_by_source`) and ``truth_effects_by_term.csv``
    (:func:`term_by_source`); to ``figures_dir`` (default ``out``): ``truth_effects.<fmt>``
    (:func:`legibility.figures.effects.plot_effects_by_source`). The cohort's cache is built,
    or reused, under ``cache_root`` (default: beside the cohort).

    Returns
    -------
    dict
        ``tables``, ``notes`` (sources asked for and missing), ``effects``, ``by_term``,
        ``peer_seconds`` (the time of the 700 linear peers), ``figure`` and ``paths``.
    """
    import time

    import matplotlib.pyplot as plt

    from legibility.checkpoints import atomic_csv
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.figures import save_figure
    from legibility.figures.effects import plot_effects_by_source

    read_ceilings(data_path)  # a cohort without ceilings is refused before its cache is built
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = build_cache(load_dataset(data_path), side=side, root=cache_root, progress=progress)
    t0 = time.perf_counter()
    tables, notes = truth_tables(data_path, cache, sweep_metrics, published, progress=progress)
    seconds = time.perf_counter() - t0
    effects = effects_by_source(tables)
    by_term = term_by_source(effects)
    written = {"linear_peers": out / "linear_peers.csv", "effects": out / "truth_effects.csv",
               "by_term": out / "truth_effects_by_term.csv"}
    if "linear peer" in tables:
        atomic_csv(tables["linear peer"], written["linear_peers"])
    atomic_csv(effects, written["effects"])
    atomic_csv(by_term, written["by_term"])
    fig = plot_effects_by_source(effects)
    written["figure"] = save_figure(fig, "truth_effects", figures_dir or out, formats=formats)
    plt.close(fig)
    return {"tables": tables, "notes": notes, "effects": effects, "by_term": by_term, "peer_seconds": seconds,
            "figure": fig, "paths": written}
