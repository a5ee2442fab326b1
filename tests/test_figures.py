"""The paper's figures drawn from the published table and a tiny cohort: what a reader checks
(order, boxes, keys, legends, labels that do not overlap)."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from legibility.figures import save_figure
from legibility.figures.grid import performance_matrices, plot_performance_grid


@pytest.fixture(scope="module")
def published(published_table):
    return published_table[published_table.Mode == "Test"].reset_index(drop=True)


def _texts(fig):
    return [t.get_text() for t in fig.findobj(plt.Text) if t.get_text()]


def test_grid_rows_and_columns_by_performance(published):
    m = performance_matrices(published, "psychology")
    ba = m["Balanced accuracy"]
    assert list(ba.max().round(4)) == sorted(ba.max().round(4), reverse=True)  # most legible target first
    assert ba.columns[0] == "Miserableness"  # best BA 0.605
    scaled = pd.concat([(ba - 0.5) / 0.5, m["r2"]], axis=1).mean(axis=1)
    assert list(scaled) == sorted(scaled, reverse=True)
    assert ba.index[0].startswith("Non-imaging data")  # non-imaging data predicts psychology best
    grid = performance_matrices(published, "psychology", order="grid")
    assert set(grid["Balanced accuracy"].index) == set(ba.index)


def test_grid_boxes_follow_the_given_best_table(published, tmp_path):
    chosen = pd.DataFrame({"Target": ["Age", "Sex (Male)"], "Inputs": ["DWI", "rsfMRI Connectivity"],
                           "selected_by": ["validation r2", "validation balanced accuracy"]})
    fig = plot_performance_grid(published, best=chosen)
    svg = save_figure(fig, "grid", tmp_path, formats=("svg",))[0].read_text()
    assert set(re.findall(r'id="best:([^|"]+)\|([^"]+)"', svg)) == {("Age", "DWI"),
                                                                     ("Sex (Male)", "rsfMRI Connectivity")}
    assert any("chosen by validation r2, validation balanced accuracy" in " ".join(t.split()) for t in _texts(fig))
    plt.close(fig)
    with pytest.raises(ValueError, match="Inputs"):
        plot_performance_grid(published, best=chosen.drop(columns="Inputs"))


def test_grid_has_the_papers_badges_and_keys(published):
    fig = plot_performance_grid(published, best_note="the published table's\ntest-based choice")
    texts = _texts(fig)
    for word in ("Constitutional", "Psychology", "Disease", "Serology", "C", "P", "D", "S", "Performance keys",
                 "Best feature set\n(white box)", "Balanced accuracy", "R²",
                 "the published table's\ntest-based choice"):
        assert word in texts, word
    colourbars = [ax for ax in fig.axes if ax.get_ylabel() in ("Balanced accuracy", "R²")]
    assert len(colourbars) == 2
    labels = [t for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()]
    assert min(t.get_fontsize() for t in labels) >= 7  # legible when printed at its size
    plt.close(fig)


def test_networks_three_panels_keys_legend_and_no_overlapping_labels(published, tiny_cohort):
    from legibility.figures.graphs import plot_networks
    from legibility.report import networks_for

    graphs, note = networks_for(published, tiny_cohort)
    assert note == ""
    assert len(graphs) == 3
    fig = plot_networks(graphs)
    fig.canvas.draw()
    texts = _texts(fig)
    assert list(graphs) == ["Mutual information, MI", "Chatterjee's xi (for the paper's MIC)", "Balanced accuracy, BA"]
    for word in ("A", "B", "C", "Non-imaging domain", "Constitutional", "Psychology", "Disease", "Serology",
                 "MI-weighted eigenvector centrality", "xi-weighted eigenvector centrality", "best balanced accuracy",
                 "MI", "xi"):
        assert word in texts, word
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        labels = [t for t in ax.texts if (t.get_gid() or "").startswith("label:")]
        assert len(labels) == 25
        boxes = [t.get_window_extent(renderer) for t in labels]
        overlaps = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes))
                    for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
        assert not overlaps
    plt.close(fig)


# The domain effects, panel by panel as the paper's data_utility figure shows them (read off it).
PAPER_PANELS = {
    "Constitutional: Models (n=28) | Targets (n=4)": {
        "T1 * FLAIR": "**", "DWI": "", "rsfMRI Connectivity": ""},
    "Psychology: Models (n=384) | Targets (n=12)": {
        "Non-imaging data (D)": "*", "Non-imaging data (S)": "", "rsfMRI Connectivity": "***", "DWI": "***",
        "T1 * FLAIR": "***"},
    "Disease: Models (n=160) | Targets (n=5)": {
        "Non-imaging data (S)": "*", "Non-imaging data (P)": "", "T1 * FLAIR": "", "rsfMRI Connectivity": "*",
        "DWI": "**"},
    "Serology: Models (n=128) | Targets (n=4)": {
        "Non-imaging data (D)": "***", "T1 * FLAIR": "*", "DWI": "", "Non-imaging data (P)": "",
        "rsfMRI Connectivity": "***"},
}


@pytest.fixture(scope="module")
def effects(published):
    from legibility.analysis import domain_effects

    return domain_effects(published)


def _terms_top_down(ax):
    ticks = sorted(zip(ax.get_yticks(), ax.get_yticklabels(), strict=True), key=lambda t: -t[0])
    return [label.get_text() for _, label in ticks]


def _stars(ax):
    from legibility.figures.effects import term_label

    return {term_label(t.get_gid().split(":", 1)[1]): t.get_text() for t in ax.texts
            if (t.get_gid() or "").startswith("stars:")}


def test_domain_effects_match_the_papers_panels(effects):
    from legibility.figures.effects import plot_domain_effects

    fig = plot_domain_effects(effects)
    fig.canvas.draw()
    assert len(fig.axes) == 4
    assert [ax.get_title(loc="right").strip() for ax in fig.axes] == list(PAPER_PANELS)  # A-D in the paper's order
    for ax, (title, marks) in zip(fig.axes, PAPER_PANELS.items(), strict=True):
        assert _terms_top_down(ax) == list(marks), title  # the paper's names, largest coefficient on top
        assert _stars(ax) == marks, title
        outcome = "R²" if title.startswith("Serology") else "BA"
        assert ax.get_xlabel() == f"Coefficient to [{outcome} ~ Input + (1|Target)]\nDetrimental ← → Advantageous"
        lo, hi = ax.get_xlim()
        assert lo == pytest.approx(-hi)
        zero = [ln for ln in ax.lines if list(ln.get_xdata()) == [0, 0]]
        assert [ln.get_linestyle() for ln in zero] == ["--"]
    letters = {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts
               if (t.get_gid() or "").startswith("letter")}
    assert letters == {"letter:constitutional": "A", "letter:psychology": "B", "letter:disease": "C",
                       "letter:serology": "D"}
    badges = [t for ax in fig.axes for t in ax.texts if (t.get_gid() or "").startswith("badge:")]
    assert [b.get_text() for b in badges] == ["C", "P", "D", "S"]
    from matplotlib.colors import to_hex

    from legibility.study import DOMAIN_COLOURS

    assert [to_hex(b.get_bbox_patch().get_facecolor()) for b in badges] == [
        DOMAIN_COLOURS[k] for k in ("constitutional", "psychology", "disease", "serology")]
    plt.close(fig)


def test_domain_effects_points_are_the_fitted_numbers(effects):
    from legibility.figures.effects import domain_panel_rows, plot_domain_panel

    rows = domain_panel_rows(effects, "serology")
    assert set(rows.outcome) == {"r2"}  # the additive R² model
    assert not rows.formula.str.contains(":").any()
    ax = plot_domain_panel(rows)
    drawn = ax.containers[0]
    ordered = rows.sort_values("coef", ascending=False)
    assert list(drawn.lines[0].get_xdata()) == pytest.approx(list(ordered.coef))  # top to bottom
    ci = drawn.lines[2][0].get_segments()
    assert [s[0][0] for s in ci] == pytest.approx(list(ordered.ci_low))
    assert [s[1][0] for s in ci] == pytest.approx(list(ordered.ci_high))
    plt.close(ax.figure)


def test_domain_effects_print_legibly_without_overlaps(effects):
    from legibility.figures.effects import plot_domain_effects

    fig = plot_domain_effects(effects)
    fig.canvas.draw()
    assert fig.get_size_inches()[0] <= 7.5  # across a printed page, at its own size
    hidden = {id(t) for ax in fig.axes for t in ax.get_xticklabels()  # ticks past the limits are not drawn
              if not min(ax.get_xlim()) <= t.get_position()[0] <= max(ax.get_xlim())}
    texts = [t for t in fig.findobj(plt.Text) if t.get_text().strip() and t.get_visible() and id(t) not in hidden]
    assert min(t.get_fontsize() for t in texts) >= 7
    renderer = fig.canvas.get_renderer()
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    badge_title = {(b, ax.get_title(loc="right")) for ax in fig.axes for b in ("C", "P", "D", "S")}
    clashes = [(a.get_text(), b.get_text()) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:]
               if ba.overlaps(bb) and (a.get_text(), b.get_text()) not in badge_title
               and (b.get_text(), a.get_text()) not in badge_title]
    assert not clashes
    width, _ = fig.get_size_inches() * fig.dpi
    assert all(bb.x0 >= 0 and bb.x1 <= width for _, bb in boxes)  # nothing cut off
    plt.close(fig)


def test_domain_effects_keep_the_ax_and_fig_contract(effects):
    from legibility.figures.effects import domain_panel_rows, plot_domain_effects, plot_domain_panel

    fig, ax = plt.subplots()
    assert plot_domain_panel(domain_panel_rows(effects, "psychology"), ax=ax) is ax
    assert fig.axes == [ax]
    assert ax.get_title(loc="right").strip().startswith("Psychology")
    plt.close(fig)
    fig = plt.figure(figsize=(12, 4))
    left, right = fig.subfigures(1, 2)
    assert plot_domain_effects(effects, fig=right, ncols=4) is right
    assert [len(sub.axes) for sub in right.subfigs] == [1, 1, 1, 1]  # a panel each, all inside the one given
    assert len(fig.axes) == 4
    assert not left.axes
    plt.close(fig)
    with pytest.raises(ValueError, match="no domain fit"):
        plot_domain_effects(effects.iloc[0:0])


def test_domain_effects_say_what_could_not_be_estimated(published):
    from legibility.analysis import domain_effects
    from legibility.figures.effects import plot_domain_effects

    table = published[(published.DWI == "No") & ((published.Domain != "Disease") | (published.Target == "Smoking"))]
    fig = plot_domain_effects(domain_effects(table))
    panels = {ax.get_title(loc="right").strip().split(":")[0]: ax for ax in fig.axes}
    for name in ("Constitutional", "Psychology", "Serology"):
        ax = panels[name]
        assert _terms_top_down(ax)[-1] == "DWI"  # not estimable: listed last, and said
        assert "not estimable" in [t.get_text() for t in ax.texts]
    disease = panels["Disease"]
    note = [t.get_text() for t in disease.texts if t.get_gid() == "note"]
    assert len(note) == 1
    assert note[0].startswith("not fitted")
    assert not _stars(disease)
    assert not len(disease.get_xticks())
    plt.close(fig)


def test_training_efficiency_as_the_paper(published):
    from legibility.figures.paper import GPU_LABELS, plot_training_efficiency

    fig = plot_training_efficiency(published, **GPU_LABELS)
    a, b = fig.axes
    assert a.get_xlabel() == "Training time per model (GPU mins)"
    assert b.get_xlabel() == "Total training time per input set (GPU hours)"
    assert [t.get_text() for ax in (a, b) for t in ax.texts if (t.get_gid() or "").startswith("letter")] == list("AB")
    assert a.get_yticklabels()[0].get_text() == "rsfMRI Connectivity + DWI + FLAIR + T1"  # slowest per model
    assert b.get_yticklabels()[0].get_text() == "DWI + FLAIR + T1 + Non-imaging data (C)"  # most hours in all
    assert len(a.get_yticklabels()) == published.Inputs.nunique() == 63  # every input set of the grid
    assert min(t.get_fontsize() for ax in (a, b) for t in ax.get_yticklabels()) >= 7
    plt.close(fig)


def test_side_by_side_covers_the_four_figures(tmp_path):
    import importlib.util

    from legibility.paths import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("side_by_side", PROJECT_ROOT / "scripts" / "side_by_side.py")
    sbs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sbs)
    assert sbs.PAIRS == {"performance_grid": "performance_grid", "networks": "networks",
                         "domain_effects": "data_utility", "training_efficiency": "training_efficiency"}
    ours, paper = tmp_path / "ours.png", tmp_path / "paper.png"
    for path, shape in ((ours, (30, 60)), (paper, (40, 50))):
        plt.imsave(path, np.zeros((*shape, 3)))
    out = sbs.side_by_side(ours, paper, tmp_path / "out.png")
    assert plt.imread(out).shape[1] > 60


# ----------------------------------------------------------------------------- layout at every size
def _drawn_texts(fig):
    """Every text the figure draws (figure texts, titles, axis labels, the tick labels of the ticks
    in view, annotations, legends), with its box in pixels."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():
                texts += [tick.label1, tick.label2]
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts())
    return [(t, t.get_window_extent(renderer)) for t in texts
            if isinstance(t, Text) and t.get_visible() and t.get_text().strip()]


def _overlap(a, b, slack: float = 0.5) -> bool:
    return a.x0 + slack < b.x1 and b.x0 + slack < a.x1 and a.y0 + slack < b.y1 and b.y0 + slack < a.y1


def assert_legible(fig):
    """No text clipped by the figure's edge, none over another text, none over an axes not its own."""
    texts = _drawn_texts(fig)
    e = fig.bbox
    for t, box in texts:
        inside = e.x0 - 0.5 <= box.x0 <= box.x1 <= e.x1 + 0.5 and e.y0 - 0.5 <= box.y0 <= box.y1 <= e.y1 + 0.5
        assert inside, f"clipped: {t.get_text()!r}"
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            assert not _overlap(box_a, box_b), f"{a.get_text()!r} overlaps {b.get_text()!r}"
        for ax in fig.axes:
            if ax is not a.axes and ax.get_visible():
                assert not _overlap(box_a, ax.bbox), f"{a.get_text()!r} is drawn over another panel"


def _quick_rows(published):
    from legibility.sweep import quick_grid

    pairs = {(t.display, s.label) for t, s in quick_grid()}
    return published[[(t, i) in pairs for t, i in zip(published.Target, published.Inputs, strict=True)]]


@pytest.mark.parametrize("size", ["paper", "quick", "one target", "one input set"])
def test_the_grid_holds_at_every_size(published, size):
    table = {"paper": published, "quick": _quick_rows(published) if size == "quick" else None,
             "one target": published[published.Target == "Hb"],
             "one input set": published[published.Inputs == "FLAIR + T1"]}[size]
    assert len(table) == {"paper": 700, "quick": 29, "one target": 32, "one input set": 4}[size]
    fig = plot_performance_grid(table, best_note="the published table's\ntest-based choice")
    assert_legible(fig)
    keys = next(t for t in fig.texts if t.get_text() == "Performance keys")
    panels = [ax for ax in fig.axes if ax.get_title() in ("Balanced accuracy", "BA", "R²")]
    renderer = fig.canvas.get_renderer()
    assert keys.get_window_extent(renderer).x1 < min(ax.get_tightbbox(renderer).x0 for ax in panels)  # own column
    plt.close(fig)


def test_best_vs_ceiling_draws_every_interval_whole_with_its_legend_clear_of_the_data(published):
    from legibility.evaluation import best_models
    from legibility.figures.evaluation import plot_best_vs_ceiling

    best = best_models(published)
    best["ci_low"], best["ci_high"] = best.test_score - 0.08, best.test_score + 0.08
    best.loc[best.Target == "HbA1c", "ci_low"] = -0.45  # an interval reaching past the panel's usual edge
    best["ceiling"], best["ceiling_se"] = best.test_score + 0.1, 0.02
    fig = plot_best_vs_ceiling(best)
    assert_legible(fig)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        for segments in (c.get_segments() for c in ax.collections if hasattr(c, "get_segments")):
            for seg in segments:
                assert lo <= seg[:, 0].min(), "an interval cut on the left"  # every CI and whisker whole
                assert seg[:, 0].max() <= hi, "an interval cut on the right"
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.x0 >= ax.bbox.x1  # beside the panel, so clear of every point
    plt.close(fig)
