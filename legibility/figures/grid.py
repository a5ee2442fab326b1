"""The performance grid as the paper drew it: one panel per domain (Constitutional, Psychology,
Disease, Serology), input sets (rows) by targets (columns), binary targets coloured by balanced
accuracy (0.5-1) and continuous ones by R² (0-1) in two blocks (seaborn heatmaps, the paper's
"rocket" colour map), rows and columns ordered by performance, each target's best input set
boxed in white, a round domain badge on each panel, and the keys (the two colour scales and
the "best feature set" example) in a column of their own, left of the panels, at every grid size."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextPath

from legibility.errors import SettingError
from legibility.study import DOMAIN_COLOURS, DOMAINS, TARGETS, input_sets_for

__all__ = ["PANEL_ORDER", "best_choice", "domain_badge", "performance_matrices", "plot_performance_grid"]

PANEL_ORDER = ("constitutional", "psychology", "disease", "serology")  # the paper's order
_BLOCKS = (("Balanced accuracy", "Balanced accuracy", (0.5, 1.0)), ("r2", "R²", (0.0, 1.0)))
_CMAP = sns.color_palette("rocket", as_cmap=True)
_FONT = 7  # points: tick labels; legible when the figure is printed at its own size


def performance_matrices(metrics: pd.DataFrame, domain: str, order: str = "performance") -> dict[str, pd.DataFrame]:
    """For one domain: ``{"Balanced accuracy": inputs x binary targets, "r2": inputs x continuous
    targets}``, NaN where a model was not run.

    ``order="performance"`` (the figure's): columns by the target's best score, highest first;
    rows by the input set's mean score over the domain's targets (each scaled to its colour
    range, so balanced accuracy and R² weigh alike), highest first. ``order="grid"``: the
    study's order of targets and input sets.
    """
    rows = metrics[metrics["Domain"] == DOMAINS[domain].name]
    present = set(rows["Inputs"])
    inputs = []
    for tgt in (t for t in TARGETS.values() if t.domain == domain):
        inputs += [s.label for s in input_sets_for(tgt) if s.label not in inputs]
    inputs = [i for i in inputs if i in present] + sorted(present - set(inputs))
    out = {}
    for metric, _, _ in _BLOCKS:
        binary = metric == "Balanced accuracy"
        cols = [t.display for t in TARGETS.values() if t.domain == domain and t.is_binary == binary
                and t.display in set(rows["Target"])]
        sub = rows[rows["Target"].isin(cols)]
        out[metric] = sub.pivot_table(index="Inputs", columns="Target", values=metric, aggfunc="first").reindex(
            index=inputs, columns=cols)
    if order == "performance":
        scaled = pd.concat([(m - lim[0]) / (lim[1] - lim[0]) for (metric, _, lim) in _BLOCKS
                            for m in [out[metric]]], axis=1)
        by_row = scaled.mean(axis=1).sort_values(ascending=False, kind="stable").index
        for metric in out:
            m = out[metric]
            out[metric] = m.reindex(index=by_row, columns=m.max().sort_values(ascending=False, kind="stable").index)
    elif order != "grid":
        raise SettingError(f"order must be 'performance' or 'grid'; got {order!r}.")
    return out


def best_choice(metrics: pd.DataFrame, best: pd.DataFrame | None = None) -> dict[str, str]:
    """``{target: input set}`` of the boxed cells: ``best`` (a table with ``Target`` and
    ``Inputs``, e.g. results/analysis/best_models.csv chosen on validation) or, by default, the
    highest plotted score of each target (balanced accuracy or R²)."""
    if best is None:
        from legibility.evaluation import best_models

        best = best_models(metrics)
    missing = {"Target", "Inputs"} - set(best.columns)
    if missing:
        raise SettingError(f"best= needs the columns Target and Inputs; it lacks {', '.join(sorted(missing))}.")
    return dict(zip(best["Target"], best["Inputs"], strict=True))


def domain_badge(fig, x, y, domain: str, size: float = 11, **kw):
    """The paper's round badge: the domain's letter in a circle of its colour, at figure
    coordinates (x, y)."""
    d = DOMAINS[domain]
    return fig.text(x, y, d.letter, ha="center", va="center", fontsize=size * 0.7, fontweight="bold",
                    bbox={"boxstyle": "circle,pad=0.35", "fc": DOMAIN_COLOURS[domain], "ec": "black", "lw": 0.8}, **kw)


def _text_width(labels, size) -> float:
    """Width in inches of the widest label at ``size`` points."""
    return max((TextPath((0, 0), str(s), size=size).get_extents().width for s in labels), default=0) / 72


def _heatmap(ax, mat, lim, boxes, yticks: bool, tag: str = "best"):
    sns.heatmap(mat, ax=ax, cmap=_CMAP, vmin=lim[0], vmax=lim[1], cbar=False, linewidths=0.4, linecolor="#1a1a1a",
                xticklabels=True, yticklabels=yticks)
    ax.set_facecolor("#d9d9d9")  # a model that was not run
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(length=2, width=0.5, pad=1, labelsize=_FONT)
    plt.setp(ax.get_xticklabels(), rotation=90, ha="center", va="top")  # upright boxes: no label reaches the next
    for j, tgt in enumerate(mat.columns):
        if boxes.get(tgt) in mat.index:
            i = list(mat.index).index(boxes[tgt])
            rect = Rectangle((j + 0.06, i + 0.06), 0.88, 0.88, fill=False, edgecolor="white", lw=1.6, zorder=5)
            rect.set_gid(f"{tag}:{tgt}|{boxes[tgt]}")
            ax.add_patch(rect)


_KEYS_W, _KEYS_H = 2.3, 4.1  # inches: the keys' own column, left of the panels


def _keys(fig, x, top, inch, note: str):
    """The performance keys (two colour bars), the best-feature-set example and ``note`` (how the
    boxes were chosen) in their own column, ``_KEYS_W`` wide, from (``x``, ``top``) inches."""
    mid = x + _KEYS_W / 2
    fig.text(*inch(x + 0.05, top)[:2], "Performance keys", fontsize=11, va="top")
    for n, (_, label, lim) in enumerate(_BLOCKS):
        cax = fig.add_axes(inch(x + 0.3 + 1.05 * n, top + 0.4, 0.12, 1.3))
        fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(*lim), _CMAP), cax=cax, label=label)
        cax.tick_params(labelsize=_FONT)
        cax.yaxis.label.set_size(_FONT + 1)
    fig.text(*inch(mid, top + 2.05)[:2], "Best feature set\n(white box)", fontsize=9, ha="center", va="top")
    ax = fig.add_axes(inch(mid - 0.2, top + 2.5, 0.55, 0.55))
    example = pd.DataFrame([[0.9, 0.62, 0.6], [0.62, 0.9, 0.64], [0.64, 0.62, 0.85]], index=list("abc"),
                           columns=list("xyz"))
    _heatmap(ax, example, (0.5, 1.0), {"x": "a", "y": "b", "z": "c"}, yticks=True, tag="key")
    plt.setp(ax.get_xticklabels(), rotation=0)
    ax.set_xlabel("Target", fontsize=_FONT + 1, labelpad=1)
    ax.set_ylabel("Inputs", fontsize=_FONT + 1, labelpad=1)
    lines = "\n".join(textwrap.fill(line, 34) for line in note.split("\n"))
    fig.text(*inch(mid, top + 3.45)[:2], lines, fontsize=_FONT, ha="center", va="top", color="#333333")


def _panel_size(domain: str, mats: dict[str, pd.DataFrame], cell: float, gap: float):
    """``(blocks, rows, label_w, width)`` of a domain's panel in inches: its row labels, its blocks
    of cells and the gaps between them, and never narrower than its title (badge and name)."""
    blocks = [(m, lab, lim) for m, lab, lim in _BLOCKS if mats[m].shape[1]]
    rows = next(iter(mats.values())).index
    label_w = _text_width(rows, _FONT) * 1.05 + 0.12
    cells = sum(mats[m].shape[1] * cell for m, _, _ in blocks) + gap * (len(blocks) - 1)
    title = _title_offset(label_w) + 0.22 + _text_width([DOMAINS[domain].name], 13) + 0.15
    return blocks, rows, label_w, max(label_w + cells, title)


def _title_offset(label_w: float) -> float:
    """Inches from a panel's left edge to its badge: over the row labels' right end, as the paper's."""
    return max(label_w - 1.2, 0.15)


def _block_title(label: str, metric: str, width: float) -> str:
    """A block's title: the metric's name where the block is as wide as it, else its short form."""
    return label if _text_width([label], _FONT + 1) <= width else {"Balanced accuracy": "BA", "r2": "R²"}[metric]


def plot_performance_grid(metrics: pd.DataFrame, best: pd.DataFrame | None = None, domains=None,
                          best_note: str | None = None, ncols: int = 2, cell: float = 0.16):
    """The paper's performance grid, its keys in a column of their own on the left.

    Parameters
    ----------
    metrics : DataFrame
        A metrics table in the published schema (``Target``, ``Inputs``, ``Domain``,
        ``Balanced accuracy``, ``r2``).
    best : DataFrame, optional
        The boxed model of each target (columns ``Target``, ``Inputs``; e.g. the validation-based
        choice in results/analysis/best_models.csv). Default: the highest plotted score.
    domains : list of str, optional
        Domain keys to draw, in the paper's order by default.
    best_note : str, optional
        How the boxes were chosen, printed under the key; by default said from ``best``.
    ncols : int
        Panels per row: 2 (default) keeps the tick labels legible (7 pt) when the figure is
        printed across a landscape page; 4 puts them in one row as the paper did.
    cell : float
        Inches per cell.

    Returns
    -------
    Figure
        Each box's rectangle has the gid ``best:<Target>|<Inputs>``.
    """
    domains = [d for d in (domains or PANEL_ORDER) if (metrics["Domain"] == DOMAINS[d].name).any()]
    mats = {d: performance_matrices(metrics, d) for d in domains}
    boxes = best_choice(metrics, best)
    if best_note is None:
        if best is None:
            best_note = "highest score of each target\nin this table"
        elif "selected_by" in best:
            best_note = "chosen by " + ", ".join(map(str, pd.unique(best["selected_by"].dropna())))
        else:
            best_note = "as given (best=)"
    gap, pad, top, vpad = 0.3, 0.35, 0.75, 0.3  # inches: between blocks, panels, above the cells, panel rows
    tick_h = _text_width([t.display for t in TARGETS.values()], _FONT) + 0.15  # upright target names
    panels = [(d, *_panel_size(d, mats[d], cell, gap)) for d in domains]
    lines = [panels[i:i + ncols] for i in range(0, len(panels), ncols)]
    heights = [top + max(len(p[2]) for p in line) * cell + tick_h for line in lines]
    left = 0.1 + _KEYS_W + 0.2  # the panels begin right of the keys' column
    W = left + max(sum(p[4] + pad for p in line) for line in lines)
    H = max(sum(heights) + vpad * (len(lines) - 1), _KEYS_H + 0.2) + 0.1

    def inch(x, y, w=0.0, h=0.0):  # a rectangle given from the top-left, in inches
        return [x / W, 1 - (y + h) / H, w / W, h / H]

    fig = plt.figure(figsize=(W, H))
    y = 0.0
    for line, height in zip(lines, heights, strict=True):
        x = left
        for d, blocks, rows, label_w, width in line:
            x0 = x + label_w
            badge_x = x + _title_offset(label_w)
            domain_badge(fig, *inch(badge_x, y + 0.22)[:2], d)
            fig.text(*inch(badge_x + 0.22, y + 0.22)[:2], DOMAINS[d].name, fontsize=13, va="center")
            for n, (metric, label, lim) in enumerate(blocks):
                mat = mats[d][metric]
                ax = fig.add_axes(inch(x0, y + top, mat.shape[1] * cell, len(rows) * cell))
                _heatmap(ax, mat, lim, boxes, yticks=n == 0)
                if n:
                    ax.set_yticks(np.arange(len(rows)) + 0.5, [""] * len(rows))
                ax.set_title(_block_title(label, metric, mat.shape[1] * cell), fontsize=_FONT + 1, pad=3)
                x0 += mat.shape[1] * cell + gap
            x += width + pad
        y += height + vpad
    _keys(fig, 0.1, 0.1, inch, best_note)
    return fig
