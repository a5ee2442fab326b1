"""The target networks as the paper drew them: one panel per graph (mutual information, the
second association measure, performance similarity), nodes coloured by domain and labelled
beneath without overlap, curved edges, and under each panel a node-size key (five circles from
the smallest to the largest value) and an edge-width key (a wedge from the weakest to the
strongest drawn edge); the domain legend below all panels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, FancyArrowPatch, Polygon
from matplotlib.textpath import TextPath

from legibility.study import DOMAIN_COLOURS, DOMAINS, target

__all__ = ["plot_networks"]

_FONT = 8  # points
_NODE = (0.1, 0.42)  # node diameters in inches, smallest and largest
_EDGE = (0.3, 4.0)  # edge widths in points, weakest and strongest
_PANEL = 5.0  # inches: the larger side of one graph's layout before nodes are spread apart
_KEYS = 1.75  # inches under each graph for its keys
_ORDER = ("constitutional", "psychology", "disease", "serology")  # the paper's legend order


def _scale(values, lo, hi):
    values = np.asarray(values, float)
    span = np.ptp(values) if len(values) else 0.0
    return lo + (hi - lo) * ((values - values.min()) / span if span > 0 else np.full(len(values), 0.5))


def _fmt(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}"


def _positions(g, diam: dict, seed: int) -> dict:
    """The layout in inches within the panel, spread so no node-and-label box overlaps another."""
    from legibility.graphs import layout, spread

    pos = layout(g, seed)
    xy = np.array(list(pos.values()))
    lo, span = xy.min(0), np.maximum(np.ptp(xy, 0), 1e-9)
    scale = min((_PANEL - 1.2) / span.max(), 0.75)  # inches per unit (neighbours about 1 unit apart)
    pos = {n: tuple((np.asarray(p) - lo) * scale) for n, p in pos.items()}
    text_h = _FONT * 1.25 / 72
    boxes = {}
    for n in g.nodes:
        w = TextPath((0, 0), n, size=_FONT).get_extents().width / 72
        r = diam[n] / 2
        boxes[n] = (max(r, w / 2) + 0.07, max(r, w / 2) + 0.07, r + text_h + 0.04, r + 0.03)
    return spread(pos, boxes)


def _size_key(ax, x, y, lo, hi, label):
    diams = np.linspace(*_NODE, 5)
    cx = x
    for d in diams:
        ax.add_patch(Circle((cx + d / 2, y), d / 2, fc="white", ec="black", lw=0.7, clip_on=False))
        cx += d + 0.06
    ax.text(x, y + 0.3, _fmt(lo), fontsize=_FONT - 1, ha="left", va="bottom")
    ax.text(cx, y + 0.3, _fmt(hi), fontsize=_FONT - 1, ha="right", va="bottom")
    ax.add_patch(FancyArrowPatch((x + 0.45, y + 0.35), (cx - 0.45, y + 0.35), arrowstyle="-|>", mutation_scale=8,
                                 lw=1, color="black", clip_on=False))
    ax.text((x + cx) / 2, y - 0.27, label, fontsize=_FONT, ha="center", va="top", style="italic", color="#444444")


def _edge_key(ax, x, y, lo, hi, label, width=1.6):
    thick = _EDGE[1] / 72
    ax.add_patch(Polygon([(x, y), (x + width, y + thick / 2), (x + width, y - thick / 2)], closed=True, fc="black",
                         clip_on=False))
    ax.text(x, y + 0.12, _fmt(lo), fontsize=_FONT - 1, ha="left", va="bottom")
    ax.text(x + width, y + 0.12, _fmt(hi), fontsize=_FONT - 1, ha="right", va="bottom")
    ax.add_patch(FancyArrowPatch((x + 0.45, y + 0.17), (x + width - 0.45, y + 0.17), arrowstyle="-|>",
                                 mutation_scale=8, lw=1, color="black", clip_on=False))  # as the size key's
    ax.text(x + width / 2, y - 0.12, label, fontsize=_FONT, ha="center", va="top", style="italic", color="#444444")


def _prepare(g, seed: int) -> dict:
    """Node diameters, positions (inches, spread apart) and edge widths of one graph."""
    names = list(g.nodes)
    sizes = np.array([g.nodes[n].get("size", 0.0) for n in names])
    diam = dict(zip(names, _scale(sizes, *_NODE), strict=True))
    pos = _positions(g, diam, seed)
    edges = list(g.edges(data="weight"))
    weights = np.array([w for _, _, w in edges])
    xy = np.array(list(pos.values()))
    lo, hi = xy.min(0) - 0.55, xy.max(0) + 0.45
    width = max(hi[0] - lo[0], 3.8)  # room for the keys
    height = hi[1] - lo[1]
    return {"sizes": sizes, "diam": diam, "pos": pos, "edges": edges, "weights": weights,
            "lo": lo, "width": width, "height": height}


def _draw(ax, d):
    pos, diam = d["pos"], d["diam"]
    widths = _scale(d["weights"], *_EDGE) if len(d["edges"]) else []
    for (a, b, _), w in zip(d["edges"], widths, strict=False):
        ax.add_patch(FancyArrowPatch(pos[a], pos[b], arrowstyle="-", connectionstyle="arc3,rad=0.15", lw=w,
                                     color="#333333", alpha=0.55, shrinkA=0, shrinkB=0, zorder=1))
    for n in pos:
        ax.add_patch(Circle(pos[n], diam[n] / 2, fc=DOMAIN_COLOURS[target(n).domain], ec="black", lw=0.7, zorder=2))
        ax.text(pos[n][0], pos[n][1] - diam[n] / 2 - 0.02, n, fontsize=_FONT, ha="center", va="top", zorder=3,
                gid=f"label:{n}", bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.7})
    ax.axis("off")


def plot_networks(graphs: dict, seed: int = 0):
    """The target graphs side by side.

    Parameters
    ----------
    graphs : dict
        ``{title: networkx graph}`` from :mod:`legibility.graphs`: nodes with ``size``,
        edges with ``weight``, and ``g.graph["size_label"]``/``["edge_label"]`` naming them
        in the keys.
    seed : int
        For the layout.

    Returns
    -------
    Figure
        Drawn in inches (one data unit is one inch); each label's gid is ``label:<target>``.
    """
    drawn = [_prepare(g, seed) for g in graphs.values()]
    top, bottom = 0.5, 0.55  # inches: titles above, domain legend below
    W = sum(d["width"] for d in drawn)
    H = top + max(d["height"] for d in drawn) + _KEYS + bottom
    fig = plt.figure(figsize=(W, H))
    x = 0.0
    for k, ((title, g), d) in enumerate(zip(graphs.items(), drawn, strict=True)):
        h = H - top - bottom
        ax = fig.add_axes([x / W, bottom / H, d["width"] / W, h / H])
        lo = d["lo"]
        ax.set_xlim(lo[0], lo[0] + d["width"])
        ax.set_ylim(lo[1] + d["height"] - h, lo[1] + d["height"])
        _draw(ax, d)
        base = lo[1] + d["height"] - max(e["height"] for e in drawn)  # keys line up across panels
        if len(d["sizes"]):
            _size_key(ax, lo[0] + 0.4, base - 0.35, d["sizes"].min(), d["sizes"].max(),
                      g.graph.get("size_label", "size"))
        if len(d["weights"]):
            _edge_key(ax, lo[0] + 0.4, base - 1.25, d["weights"].min(), d["weights"].max(),
                      g.graph.get("edge_label", "weight"), width=1.8)
        fig.text((x + 0.1) / W, 1 - 0.08 / H, "ABCDEFG"[k], fontsize=16, va="top")
        fig.text((x + d["width"] / 2) / W, 1 - 0.1 / H, title, fontsize=13, ha="center", va="top")
        x += d["width"]
    x = 0.5 - 2.9 / W
    fig.text(x, 0.25 / H, "Non-imaging domain", fontsize=_FONT + 1, ha="right", va="center")
    fig.add_artist(plt.Line2D([x - 1.6 / W, x + 5.6 / W], [0.5 / H, 0.5 / H], color="grey", lw=0.6, ls=":"))
    for d in _ORDER:
        x += 0.3 / W
        fig.text(x, 0.25 / H, DOMAINS[d].letter, fontsize=6, fontweight="bold", ha="center", va="center",
                 bbox={"boxstyle": "circle,pad=0.4", "fc": DOMAIN_COLOURS[d], "ec": "black", "lw": 0.7})
        fig.text(x + 0.15 / W, 0.25 / H, DOMAINS[d].name, fontsize=_FONT + 1, va="center")
        x += (0.3 + TextPath((0, 0), DOMAINS[d].name, size=_FONT + 1).get_extents().width / 72) / W
    return fig
