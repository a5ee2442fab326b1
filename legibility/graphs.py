"""The paper's three graphs over the 25 targets.

1. Mutual information (MI) between characteristics, from a cohort's participant data
   (scikit-learn's nearest-neighbour estimator, symmetrised).
2. A second, nonlinear association: the paper used the maximal information coefficient
   (``minepy``, which no longer builds). We use Chatterjee's xi correlation
   (``scipy.stats.chatterjeexi``, in scipy itself): like MIC it is 0 for independence and 1
   for any noiseless function, nonlinear or not, and it needs no binning choices; it is
   asymmetric, so we take ``max(xi(x, y), xi(y, x))``.
3. Performance similarity: for two targets, their main metric over the input sets both have;
   the edge weight is the inverse of the root-mean-square difference of those profiles
   (``1 / (0.01 + RMS)``), node size the target's best balanced accuracy.

In 1 and 2 the top 60% of edges by weight are kept and node size is the weighted eigenvector
centrality, as in the paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from legibility.errors import SettingError
from legibility.study import TARGETS, target

__all__ = ["association_graph", "association_matrices", "eigenvector_centrality", "layout", "performance_graph",
           "spread", "top_edges"]


def association_matrices(meta: pd.DataFrame, max_rows: int = 5000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"MI": ..., "xi": ...}``: symmetric target x target association matrices from the
    characteristics in ``meta`` (one row per participant; at most ``max_rows`` are used)."""
    from scipy.stats import chatterjeexi
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    keys = [k for k in TARGETS if k in meta.columns]
    if len(keys) < 3:
        raise SettingError(f"need the characteristics as columns (found {len(keys)} of {len(TARGETS)}).")
    data = meta[keys].dropna()
    if len(data) > max_rows:
        data = data.sample(max_rows, random_state=seed)
    x = data.to_numpy(float)
    rng = np.random.default_rng(seed)
    jitter = x + rng.normal(0, 1e-9, x.shape) * (np.nanstd(x, 0) + 1e-12)  # break ties of binary items
    n = len(keys)
    mi, xi = np.zeros((n, n)), np.zeros((n, n))
    discrete = np.array([TARGETS[k].is_binary for k in keys])
    for j, k in enumerate(keys):
        est = mutual_info_classif if TARGETS[k].is_binary else mutual_info_regression
        mi[:, j] = est(x, x[:, j].astype(int) if TARGETS[k].is_binary else x[:, j],
                       discrete_features=discrete, random_state=seed)
    mi = (mi + mi.T) / 2
    for i in range(n):
        for j in range(i + 1, n):
            a = chatterjeexi(jitter[:, i], jitter[:, j]).statistic
            b = chatterjeexi(jitter[:, j], jitter[:, i]).statistic
            xi[i, j] = xi[j, i] = max(a, b, 0.0)
    np.fill_diagonal(mi, 0)
    names = [TARGETS[k].display for k in keys]
    return {"MI": pd.DataFrame(mi, names, names), "xi": pd.DataFrame(xi, names, names)}


def top_edges(weights: pd.DataFrame, keep: float = 0.6) -> list[tuple[str, str, float]]:
    """The strongest ``keep`` fraction of the off-diagonal pairs, strongest first."""
    names = list(weights.index)
    pairs = [(names[i], names[j], float(weights.iat[i, j])) for i in range(len(names))
             for j in range(i + 1, len(names)) if np.isfinite(weights.iat[i, j]) and weights.iat[i, j] > 0]
    pairs.sort(key=lambda p: -p[2])
    return pairs[: int(round(keep * len(pairs)))]


def association_graph(weights: pd.DataFrame, keep: float = 0.6, measure: str = "MI"):
    """A networkx graph: top edges, node attribute ``size`` = weighted eigenvector centrality.
    ``measure`` names the association in the figure's keys (``g.graph``)."""
    import networkx as nx

    g = nx.Graph(edge_label=measure, size_label=f"{measure}-weighted eigenvector centrality")
    for name in weights.index:
        g.add_node(name, domain=target(name).domain)
    g.add_weighted_edges_from(top_edges(weights, keep))
    cent = eigenvector_centrality(g)
    for name in g.nodes:
        g.nodes[name]["size"] = cent[name]
    return g


def eigenvector_centrality(g) -> dict[str, float]:
    """Weighted eigenvector centrality of each node, computed within its connected component.

    On a connected graph this is networkx's ``eigenvector_centrality_numpy`` (the principal
    eigenvector of the weighted adjacency, unit norm). Keeping the top edges often leaves a
    target with none, and networkx refuses a disconnected graph; here each component of two or
    more nodes gets its own unit-norm principal eigenvector and a node without edges gets 0.
    """
    import networkx as nx

    cent = dict.fromkeys(g.nodes, 0.0)
    for part in nx.connected_components(g):
        if len(part) < 2:
            continue
        nodes = sorted(part)
        adjacency = nx.to_numpy_array(g, nodelist=nodes, weight="weight")
        _, vectors = np.linalg.eigh(adjacency)  # symmetric: eigenvalues ascending, the last is the largest
        principal = np.abs(vectors[:, -1])  # Perron vector of a non-negative matrix: one sign
        cent.update(zip(nodes, (principal / np.linalg.norm(principal)).tolist(), strict=True))
    return cent


def performance_graph(metrics: pd.DataFrame, metric: str = "Balanced accuracy", keep: float = 0.6):
    """Targets as nodes (``size`` = best balanced accuracy), edges weighted by the similarity of
    their performance profiles over the input sets both have (see the module's docstring)."""
    import networkx as nx

    table = metrics.pivot_table(index="Inputs", columns="Target", values=metric, aggfunc="first")
    names = list(table.columns)
    w = pd.DataFrame(np.nan, names, names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = table[[a, b]].dropna()
            if len(both):
                rms = float(np.sqrt(((both[a] - both[b]) ** 2).mean()))
                w.loc[a, b] = w.loc[b, a] = 1.0 / (0.01 + rms)
    short = {"Balanced accuracy": "BA", "r2": "R²"}.get(metric, metric)
    g = nx.Graph(edge_label=f"1 / (0.01 + RMS difference of {short} profiles)", size_label="best balanced accuracy")
    best = metrics.groupby("Target")["Balanced accuracy"].max()
    for name in names:
        g.add_node(name, domain=target(name).domain, size=float(best[name]))
    g.add_weighted_edges_from(top_edges(w, keep))
    return g


def layout(g, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Node positions, one connected part at a time, neighbours about one unit apart.

    Each part is laid out by Kamada-Kawai (networkx) on distances from the *rank* of each
    edge's weight (strongest 1, weakest 2), so that a few near-identical weights cannot
    collapse a cluster onto one point; each part is scaled so that neighbours sit about one
    unit apart, and the parts are set side by side: the largest below, the smaller ones in a
    row above it (as the paper's third graph is drawn). Labels are kept apart afterwards by
    :func:`spread`.
    """
    import networkx as nx

    parts = sorted(nx.connected_components(g), key=lambda c: (-len(c), sorted(c)))
    placed = []
    for nodes in parts:
        h = g.subgraph(nodes).copy()
        if len(h) == 1:
            xy = {next(iter(h)): np.zeros(2)}
        elif len(h) == 2:
            a, b = sorted(h)
            xy = {a: np.array([-0.5, 0.0]), b: np.array([0.5, 0.0])}
        else:
            ranked = sorted(h.edges(data="weight"), key=lambda e: e[2])
            for r, (a, b, _) in enumerate(ranked):
                h[a][b]["d"] = 2.0 - r / max(len(ranked) - 1, 1)
            xy = nx.kamada_kawai_layout(h, weight="d", pos=nx.circular_layout(h))
            xy = {n: np.asarray(p, float) for n, p in xy.items()}
            pts = np.array(list(xy.values()))
            near = np.median([np.sort(np.linalg.norm(pts - q, axis=1))[1] for q in pts]) or 1.0
            xy = {n: (p - pts.mean(0)) / near for n, p in xy.items()}  # neighbours about 1 apart in every part
        placed.append(xy)
    pos = dict(placed[0])
    if len(placed) > 1:
        big = np.array(list(placed[0].values()))
        top = big[:, 1].max() + 1.5 if len(big) > 1 else 1.5
        widths = [np.ptp([p[0] for p in xy.values()]) + 1.5 for xy in placed[1:]]
        x = -sum(widths) / 2
        heights = [np.ptp([p[1] for p in xy.values()]) for xy in placed[1:]]
        for xy, w in zip(placed[1:], widths, strict=True):
            lo = np.array([min(p[0] for p in xy.values()), min(p[1] for p in xy.values())])
            for n, p in xy.items():
                pos[n] = p - lo + np.array([x + 0.5, top + (max(heights) - np.ptp([q[1] for q in xy.values()])) / 2])
            x += w
    return {n: (float(p[0]), float(p[1])) for n, p in pos.items()}


def spread(pos: dict, boxes: dict, iterations: int = 400) -> dict[str, tuple[float, float]]:
    """Move nodes apart until no two of their boxes (marker and label) overlap: the plain
    iterative push along the axis of least overlap. (``adjustText`` moves labels away from
    their points; here a node and its label move together, so a label never leaves its node
    and the graph keeps its shape.)

    ``boxes[n] = (left, right, below, above)``: the extent of node ``n``'s marker and label
    around its position, in the units of ``pos``."""
    names = list(pos)
    xy = np.array([pos[n] for n in names], float)
    ext = np.array([boxes[n] for n in names], float)
    for _ in range(iterations):
        moved = False
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                dx = xy[j, 0] - xy[i, 0]
                ox = (ext[i, 1] + ext[j, 0]) - dx if dx >= 0 else (ext[j, 1] + ext[i, 0]) + dx
                dy = xy[j, 1] - xy[i, 1]
                oy = (ext[i, 3] + ext[j, 2]) - dy if dy >= 0 else (ext[j, 3] + ext[i, 2]) + dy
                if ox > 0 and oy > 0:  # the boxes overlap: push apart along the cheaper axis
                    moved = True
                    if ox < oy:
                        step = (ox / 2 + 1e-3) * (1 if dx >= 0 else -1)
                        xy[i, 0] -= step
                        xy[j, 0] += step
                    else:
                        step = (oy / 2 + 1e-3) * (1 if dy >= 0 else -1)
                        xy[i, 1] -= step
                        xy[j, 1] += step
        if not moved:
            break
    return {n: (float(x), float(y)) for n, (x, y) in zip(names, xy, strict=True)}
