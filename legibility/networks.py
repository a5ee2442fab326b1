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

from legibility.study import TARGETS, target

__all__ = ["association_graph", "association_matrices", "layout", "performance_graph", "top_edges"]


def association_matrices(meta: pd.DataFrame, max_rows: int = 5000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """``{"MI": ..., "xi": ...}``: symmetric target x target association matrices from the
    characteristics in ``meta`` (one row per participant; at most ``max_rows`` are used)."""
    from scipy.stats import chatterjeexi
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    keys = [k for k in TARGETS if k in meta.columns]
    if len(keys) < 3:
        raise ValueError(f"need the characteristics as columns (found {len(keys)} of {len(TARGETS)}).")
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


def association_graph(weights: pd.DataFrame, keep: float = 0.6):
    """A networkx graph: top edges, node attribute ``size`` = weighted eigenvector centrality."""
    import networkx as nx

    g = nx.Graph()
    for name in weights.index:
        g.add_node(name, domain=target(name).domain)
    g.add_weighted_edges_from(top_edges(weights, keep))
    try:
        cent = nx.eigenvector_centrality_numpy(g, weight="weight") if g.number_of_edges() else {}
    except Exception:  # a disconnected or degenerate graph
        cent = {}
    for name in g.nodes:
        g.nodes[name]["size"] = abs(float(cent.get(name, 0.0)))
    return g


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
    g = nx.Graph()
    best = metrics.groupby("Target")["Balanced accuracy"].max()
    for name in names:
        g.add_node(name, domain=target(name).domain, size=float(best[name]))
    g.add_weighted_edges_from(top_edges(w, keep))
    return g


def layout(g, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Node positions: a spring layout on log-scaled, 0.1-1 normalised weights (so a few very
    similar targets do not collapse onto one point); a circle when there are no edges."""
    import networkx as nx

    if not g.number_of_edges():
        return {n: (float(x), float(y)) for n, (x, y) in nx.circular_layout(g).items()}
    logw = {(a, b): np.log(max(w, 1e-12)) for a, b, w in g.edges(data="weight")}
    lo, hi = min(logw.values()), max(logw.values())
    h = nx.Graph()
    h.add_nodes_from(g.nodes)
    for (a, b), v in logw.items():
        h.add_edge(a, b, w=0.1 + 0.9 * ((v - lo) / (hi - lo) if hi > lo else 1.0))
    for a, b, w in h.edges(data="w"):
        h[a][b]["d"] = 1.1 - w  # strong association: short distance
    start = nx.circular_layout(h)
    pos = nx.kamada_kawai_layout(h, weight="d", pos=start)
    pos = nx.spring_layout(h, weight="w", pos=pos, seed=seed, k=1.8 / max(len(h), 1) ** 0.5, iterations=30)
    return {n: (float(x), float(y)) for n, (x, y) in pos.items()}
