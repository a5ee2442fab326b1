"""The paper's figures drawn from the published table and a tiny cohort: what a reader checks
(order, boxes, keys, legends, labels that do not overlap)."""

import re

import matplotlib.pyplot as plt
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
    assert any("chosen by validation r2, validation balanced accuracy" in t for t in _texts(fig))
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
    from legibility.figures.networks import plot_networks
    from legibility.report import networks_for

    graphs, note = networks_for(published, tiny_cohort)
    assert note == ""
    assert len(graphs) == 3
    fig = plot_networks(graphs)
    fig.canvas.draw()
    texts = _texts(fig)
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
