"""Everything ``legibility analyse`` writes, from one metrics table (ours or the published one):
the domain effects, the paper's figures, the target networks and the dashboard.

:func:`analyse` runs the steps below in order; notebooks 05 and 06 call the same steps one
cell at a time, so that each table and figure is shown as it is written. Every step names its
files the same way: ``<label>_<name>`` with a label, ``<name>`` without.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from legibility.analysis import domain_effects, load_metrics

__all__ = ["ANALYSE_FORMATS", "NOTEBOOK_FORMATS", "analyse", "dashboard_for", "domain_effects_figure",
           "networks_figure", "networks_for", "performance_grid_figure", "training_efficiency_figure",
           "write_best_models", "write_domain_effects", "write_headline"]

ANALYSE_FORMATS = ("png", "pdf", "svg")  # what `legibility analyse` saves each figure as
NOTEBOOK_FORMATS = ("png", "pdf")  # what notebooks 05 and 06 save (PNG for viewing, PDF for print)


def _name(label: str, name: str) -> str:
    """``<label>_<name>``, or ``name`` when there is no label."""
    return f"{label}_{name}" if label else name


def _folder(path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _save(fig, name: str, figures_dir, label: str, formats) -> list[Path]:
    from legibility.figures import save_figure

    return save_figure(fig, _name(label, name), figures_dir, formats=formats)


def networks_for(metrics: pd.DataFrame, cohort=None) -> tuple[dict, str]:
    """The three graphs (the two association graphs only when a cohort's participant data is
    given) and a note saying what was left out."""
    from legibility.graphs import association_graph, association_matrices, performance_graph

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


def write_domain_effects(table: pd.DataFrame, out, label: str = "") -> tuple[pd.DataFrame, Path]:
    """Fit the domain analyses (:func:`legibility.analysis.domain_effects`) and write them to
    ``out/[label_]domain_effects.csv``.

    Returns
    -------
    effects, path
    """
    effects = domain_effects(table)
    path = _folder(out) / f"{_name(label, 'domain_effects')}.csv"
    effects.to_csv(path, index=False)
    return effects, path


def write_headline(table: pd.DataFrame, best: pd.DataFrame, out, label: str = "") -> tuple[pd.DataFrame, Path]:
    """Every target's best model with its test score (:func:`legibility.figures.paper.headline`),
    written to ``out/[label_]headline.csv``.

    Returns
    -------
    headline, path
    """
    from legibility.figures.paper import headline

    heads = headline(table, best)
    path = _folder(out) / f"{_name(label, 'headline')}.csv"
    heads.to_csv(path, index=False)
    return heads, path


def write_best_models(best: pd.DataFrame, out, label: str = "") -> Path:
    """The best-model choice, written to ``out/[label_]best_models.csv``."""
    path = _folder(out) / f"{_name(label, 'best_models')}.csv"
    best.to_csv(path, index=False)
    return path


def domain_effects_figure(effects: pd.DataFrame, figures_dir, label: str = "",
                          formats=NOTEBOOK_FORMATS) -> tuple[object, list[Path]]:
    """The coefficient plots of the domain analyses, saved as ``figures_dir/[label_]domain_effects``.

    Returns
    -------
    figure, paths
        The figure is left open (a notebook shows it); close it when done.
    """
    from legibility.figures.paper import plot_domain_effects

    fig = plot_domain_effects(effects)
    return fig, _save(fig, "domain_effects", figures_dir, label, formats)


def performance_grid_figure(table: pd.DataFrame, best: pd.DataFrame, figures_dir, label: str = "",
                            formats=ANALYSE_FORMATS) -> tuple[object, list[Path]]:
    """The performance grid with each target's best input set boxed, saved as
    ``figures_dir/[label_]performance_grid`` (SVG too by default: its boxes carry ids).

    Returns
    -------
    figure, paths
        The figure is left open; close it when done.
    """
    from legibility.figures.paper import plot_performance_grid

    fig = plot_performance_grid(table, best=best)
    return fig, _save(fig, "performance_grid", figures_dir, label, formats)


def training_efficiency_figure(table: pd.DataFrame, figures_dir, label: str = "", formats=NOTEBOOK_FORMATS,
                               gpu_labels: bool = False) -> tuple[object, list[Path]]:
    """Minutes per model and hours per input set, saved as ``figures_dir/[label_]training_efficiency``;
    ``gpu_labels`` for the published table, whose times are GPU times.

    Returns
    -------
    figure, paths
        The figure is left open; close it when done.
    """
    from legibility.figures.paper import GPU_LABELS, plot_training_efficiency

    fig = plot_training_efficiency(table, **(GPU_LABELS if gpu_labels else {}))
    return fig, _save(fig, "training_efficiency", figures_dir, label, formats)


def networks_figure(graphs: dict, figures_dir, label: str = "", formats=NOTEBOOK_FORMATS) -> tuple[object, list[Path]]:
    """The target networks of :func:`networks_for`, saved as ``figures_dir/[label_]networks``.

    Returns
    -------
    figure, paths
        The figure is left open; close it when done.
    """
    from legibility.figures.paper import plot_networks

    fig = plot_networks(graphs)
    return fig, _save(fig, "networks", figures_dir, label, formats)


def dashboard_for(table: pd.DataFrame, graphs: dict, out, note: str = "", best: pd.DataFrame | None = None,
                  label: str = "") -> Path:
    """The interactive dashboard (:func:`legibility.dashboard.write_dashboard`), written to
    ``out/[label_]dashboard.html``."""
    from legibility.dashboard import write_dashboard

    return write_dashboard(table, graphs, _folder(out) / f"{_name(label, 'dashboard')}.html", note=note, best=best)


def _closed(drawn: tuple) -> list[Path]:
    """The paths of a figure step's ``(figure, paths)``, its figure closed."""
    import matplotlib.pyplot as plt

    fig, paths = drawn
    plt.close(fig)
    return paths


def _best_choice(metrics, best) -> pd.DataFrame:
    """``best`` as a DataFrame; by default the choice that goes with ``metrics``."""
    from legibility.evaluation import best_models

    if best is None:
        return best_models(metrics)
    return best if isinstance(best, pd.DataFrame) else pd.read_csv(best)


def analyse(metrics, out, cohort=None, figures_dir=None, formats=ANALYSE_FORMATS, label: str = "",
            best=None) -> dict:
    """Domain effects to ``out/domain_effects.csv``; each target's best model to
    ``out/best_models.csv``; the headline table to ``out/headline.csv``; the performance grid,
    domain effects, training efficiency and network figures to ``figures_dir`` (default ``out``);
    the dashboard to ``out/dashboard.html``. With a ``label``, every name starts ``<label>_``.
    Returns the paths and the headline table.

    ``best``: the best-model choice (a DataFrame or a ``best_models.csv``); by default the one
    that goes with ``metrics`` (:func:`legibility.evaluation.best_models`: chosen on validation for
    a sweep's table, the published table's own test-based choice for ``"published"``)."""
    table = load_metrics(metrics) if not isinstance(metrics, pd.DataFrame) else metrics
    best = _best_choice(metrics, best)
    figures_dir = figures_dir or out
    effects, effects_path = write_domain_effects(table, out, label)
    heads, headline_path = write_headline(table, best, out, label)
    written = {"domain_effects": effects_path, "headline": headline_path,
               "best_models": write_best_models(best, out, label)}
    written["performance_grid"] = _closed(performance_grid_figure(table, best, figures_dir, label, formats))
    written["domain_effects_figure"] = _closed(domain_effects_figure(effects, figures_dir, label, formats))
    published = isinstance(metrics, str) and metrics == "published"  # the paper's times are GPU times
    written["training_efficiency"] = _closed(training_efficiency_figure(table, figures_dir, label, formats,
                                                                        gpu_labels=published))
    graphs, note = networks_for(table, cohort)
    if note:
        print(note)
    written["networks"] = _closed(networks_figure(graphs, figures_dir, label, formats))
    written["dashboard"] = dashboard_for(table, graphs, out, note=note, best=best, label=label)
    return {"paths": written, "effects": effects, "headline": heads, "note": note}
