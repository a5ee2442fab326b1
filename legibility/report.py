"""Everything ``legibility analyse`` writes, from one metrics table (ours or the published one):
the domain effects, the paper's figures, the target networks and the dashboard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from legibility.analysis import domain_effects, load_metrics

__all__ = ["analyse", "networks_for"]


def networks_for(metrics: pd.DataFrame, cohort=None) -> tuple[dict, str]:
    """The three graphs (the two association graphs only when a cohort's participant data is
    given) and a note saying what was left out."""
    from legibility.networks import association_graph, association_matrices, performance_graph

    graphs = {}
    note = ""
    if cohort:
        from legibility.data.layout import load_dataset

        mats = association_matrices(load_dataset(cohort).table)
        graphs["Mutual information, MI"] = association_graph(mats["MI"], measure="MI")
        graphs["Chatterjee's xi (for the paper's MIC)"] = association_graph(mats["xi"], measure="xi")
    else:
        note = ("The association networks need participant data (give --cohort); only the performance "
                "graph is drawn.")
    graphs["Balanced accuracy, BA"] = performance_graph(metrics)  # the paper's title
    return graphs, note


def analyse(metrics, out, cohort=None, figures_dir=None, formats=("png", "pdf", "svg"), label: str = "",
            best=None) -> dict:
    """Domain effects to ``out/domain_effects.csv``; each target's best model to
    ``out/best_models.csv``; the performance grid, domain effects, training efficiency and
    network figures to ``figures_dir`` (default ``out``); the dashboard to
    ``out/dashboard.html``. Returns the paths and the headline table.

    ``best``: the best-model choice (a DataFrame or a ``best_models.csv``); by default the one
    that goes with ``metrics`` (:func:`legibility.evaluation.best_for`: chosen on validation for
    a sweep's table, the published table's own test-based choice for ``"published"``)."""
    import matplotlib.pyplot as plt

    from legibility.dashboard import write_dashboard
    from legibility.evaluation import best_for, best_models
    from legibility.figures import save_figure
    from legibility.figures.paper import (
        GPU_LABELS,
        headline,
        plot_domain_effects,
        plot_networks,
        plot_performance_grid,
        plot_training_efficiency,
    )

    published = isinstance(metrics, str) and metrics == "published"  # the paper's times are GPU times
    table = load_metrics(metrics) if not isinstance(metrics, pd.DataFrame) else metrics
    if best is None:
        best = best_models(metrics) if isinstance(metrics, pd.DataFrame) else best_for(metrics)
    elif not isinstance(best, pd.DataFrame):
        best = pd.read_csv(best)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures_dir = Path(figures_dir) if figures_dir else out
    prefix = f"{label}_" if label else ""
    effects = domain_effects(table)
    effects.to_csv(out / "domain_effects.csv", index=False)
    heads = headline(table, best)
    heads.to_csv(out / "headline.csv", index=False)
    best.to_csv(out / f"{prefix}best_models.csv", index=False)
    written = {"domain_effects": out / "domain_effects.csv", "headline": out / "headline.csv",
               "best_models": out / f"{prefix}best_models.csv"}
    for name, fig in (("performance_grid", plot_performance_grid(table, best=best)),
                      ("domain_effects", plot_domain_effects(effects)),
                      ("training_efficiency", plot_training_efficiency(table, **(GPU_LABELS if published else {})))):
        written[name] = save_figure(fig, prefix + name, figures_dir, formats=formats)
        plt.close(fig)
    graphs, note = networks_for(table, cohort)
    if note:
        print(note)
    fig = plot_networks(graphs)
    written["networks"] = save_figure(fig, prefix + "networks", figures_dir, formats=formats)
    plt.close(fig)
    written["dashboard"] = write_dashboard(table, graphs, out / f"{prefix}dashboard.html", note=note, best=best)
    return {"paths": written, "effects": effects, "headline": heads, "note": note}
