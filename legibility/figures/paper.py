"""The paper's summary figures, drawn from any metrics table in the published schema:
the performance grid, the domain-effect coefficient plots and the training efficiency."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from legibility.analysis import stars
from legibility.evaluation import best_models
from legibility.study import DOMAIN_COLOURS, DOMAINS, TARGETS, input_sets_for, target

__all__ = ["headline", "performance_matrices", "plot_domain_effects", "plot_networks", "plot_performance_grid",
           "plot_training_efficiency"]

_METRICS = (("Balanced accuracy", "Balanced accuracy", (0.5, 1.0)), ("r2", "R²", (0.0, 1.0)))


def performance_matrices(metrics: pd.DataFrame, domain: str) -> dict[str, pd.DataFrame]:
    """For one domain: ``{"Balanced accuracy": inputs x binary targets, "r2": inputs x continuous
    targets}``; rows in the grid's order of input sets, columns in the study's order of targets;
    NaN where a model was not run."""
    rows = metrics[metrics["Domain"] == DOMAINS[domain].name]
    present = set(rows["Inputs"])
    order = []
    for tgt in (t for t in TARGETS.values() if t.domain == domain):
        order += [s.label for s in input_sets_for(tgt) if s.label not in order]
    order = [o for o in order if o in present] + sorted(present - set(order))
    out = {}
    for metric, _, _ in _METRICS:
        binary = metric == "Balanced accuracy"
        cols = [t.display for t in TARGETS.values() if t.domain == domain and t.is_binary == binary
                and t.display in set(rows["Target"])]
        sub = rows[rows["Target"].isin(cols)]
        out[metric] = sub.pivot_table(index="Inputs", columns="Target", values=metric, aggfunc="first").reindex(
            index=order, columns=cols)
    return out


def plot_performance_grid(metrics: pd.DataFrame, domains=None, cell: float = 0.17, best: pd.DataFrame | None = None):
    """One panel per domain, side by side: input sets (rows) by targets (columns), binary
    targets coloured by balanced accuracy (0.5-1) and continuous ones by R² (0-1) in two blocks;
    each target's best input set boxed in white (its rectangle's gid is
    ``best:<Target>|<Inputs>``); grey where a model was not run. ``cell``: inches per cell.
    ``best``: the choice to box (``best_models.csv``: Target, Inputs, selected_by); default
    :func:`legibility.evaluation.best_models` of ``metrics``. The figure says how it was chosen."""
    domains = [d for d in (domains or DOMAINS) if (metrics["Domain"] == DOMAINS[d].name).any()]
    mats = {d: performance_matrices(metrics, d) for d in domains}
    best = best_models(metrics) if best is None else best
    chosen_by = str(best["selected_by"].iloc[0]) if "selected_by" in best and len(best) else ""
    best = best.set_index("Target")["Inputs"].to_dict()
    label_w, gap, top, bottom = 3.3, 0.12, 0.6, 1.1  # inches
    nrows = max(len(next(iter(m.values())).index) for m in mats.values())
    widths = [label_w + sum(m[k].shape[1] * cell + gap for k, _, _ in _METRICS if m[k].shape[1]) for m in mats.values()]
    W, H = sum(widths) + 2.0, nrows * cell + top + bottom
    fig = plt.figure(figsize=(W, H))
    cmap = plt.get_cmap("magma").with_extremes(bad="#d9d9d9")
    images, x = {}, 0.0
    for d, width in zip(domains, widths, strict=True):
        m = mats[d]
        x0 = x + label_w
        n_in = len(next(iter(m.values())).index)
        first = True
        for metric, label, lim in _METRICS:
            mat = m[metric]
            if not mat.shape[1]:
                continue
            ax = fig.add_axes([x0 / W, (H - top - n_in * cell) / H, mat.shape[1] * cell / W, n_in * cell / H])
            images[metric] = ax.imshow(np.ma.masked_invalid(mat.to_numpy(float)), cmap=cmap, vmin=lim[0],
                                       vmax=lim[1], aspect="auto", interpolation="nearest")
            ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=60, ha="right", fontsize=7)
            ax.set_yticks(range(n_in), mat.index if first else [], fontsize=6)
            short = label if mat.shape[1] > 2 else {"Balanced accuracy": "BA"}.get(label, label)
            ax.set_title(short, fontsize=7)
            for j, tgt in enumerate(mat.columns):
                if best.get(tgt) in mat.index:
                    i = list(mat.index).index(best[tgt])
                    rect = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", lw=1.6)
                    rect.set_gid(f"best:{tgt}|{best[tgt]}")
                    ax.add_patch(rect)
            if first:
                ax.set_title(f"{DOMAINS[d].letter}  {DOMAINS[d].name}", loc="left", x=-label_w / (mat.shape[1] * cell),
                             y=1.0 + 0.3 / (n_in * cell), fontsize=10, fontweight="bold", color=DOMAIN_COLOURS[d])
            first = False
            x0 += mat.shape[1] * cell + gap
        x += width
    for n, (metric, label, _) in enumerate(m for m in _METRICS if m[0] in images):
        cax = fig.add_axes([(x + 0.3 + 0.9 * n) / W, (H - top - 1.6) / H, 0.12 / W, 1.5 / H])
        fig.colorbar(images[metric], cax=cax, label=label)
    if chosen_by:
        fig.text(0.5 / W, 0.15 / H, f"White box: each target's best input set, chosen on {chosen_by}.", fontsize=7)
    return fig


def _title(rows: pd.DataFrame) -> str:
    r = rows.iloc[0]
    return f"{r.domain}: Models (n={int(r.n)}) | Targets (n={int(r.n_targets)})"


def plot_domain_effects(effects: pd.DataFrame):
    """The paper's coefficient plots: one panel per domain (balanced accuracy; serology: the
    additive R² model), each input's coefficient with its 95% CI and stars. Terms that could not
    be estimated and fits with warnings are written on the panel."""
    panels = []
    for name in [d.name for d in DOMAINS.values()]:
        sub = effects[effects.domain == name]
        if name == "Serology":
            additive = sub[(sub.outcome == "r2") & ~sub.formula.str.contains(":")]
            sub = additive if len(additive) else sub[sub.outcome == "Balanced accuracy"]
        else:
            sub = sub[sub.outcome == "Balanced accuracy"]
        if len(sub):
            panels.append((name, sub[sub.term != "Intercept"].reset_index(drop=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False,
                             layout="constrained")
    for ax, (name, sub) in zip(axes[0], panels, strict=True):
        colour = DOMAIN_COLOURS[next(k for k, d in DOMAINS.items() if d.name == name)]
        y = np.arange(len(sub))[::-1]
        ok = sub.coef.notna().to_numpy()
        ax.errorbar(sub.coef[ok], y[ok], xerr=[(sub.coef - sub.ci_low)[ok], (sub.ci_high - sub.coef)[ok]],
                    fmt="o", color=colour, ecolor="black", capsize=3)
        span = np.nanmax(np.abs(np.r_[sub.ci_low, sub.ci_high, 1e-3]))
        for yi, r in zip(y, sub.itertuples(), strict=True):
            if np.isfinite(r.coef):
                ax.text(r.ci_high + 0.04 * span, yi, stars(r.p), va="center", fontsize=10)
            else:
                ax.text(0, yi, "not estimable", va="center", ha="center", fontsize=7, color="grey")
        ax.axvline(0, color="grey", ls="--", lw=1)
        ax.set_xlim(-1.3 * span, 1.3 * span)
        ax.set_yticks(y, sub.term)
        outcome = "R²" if sub.outcome.iloc[0] == "r2" else "balanced accuracy"
        ax.set_xlabel(f"coefficient ({outcome})\ndetrimental ← → advantageous", fontsize=8)
        ax.set_title(_title(sub), fontsize=9)
        notes = sorted({s for s in sub.status.dropna() if s != "ok" and not s.startswith("not estimable")})
        if notes:
            ax.annotate("\n".join(notes), (0.02, 0.02), xycoords="axes fraction", fontsize=5.5, color="firebrick",
                        wrap=True)
    return fig


def plot_training_efficiency(metrics: pd.DataFrame, minutes_label: str = "Training time per model (mins)"):
    """A: minutes per model by input set (points, mean and 95% CI), slowest first; B: total hours
    per input set (bars)."""
    t = metrics[["Inputs", "Training time (mins)"]].dropna()
    g = t.groupby("Inputs")["Training time (mins)"]
    summary = pd.DataFrame({"mean": g.mean(), "sd": g.std().fillna(0), "n": g.size(), "hours": g.sum() / 60})
    summary["half"] = 1.96 * summary.sd / np.sqrt(summary.n)
    by_mean = summary.sort_values("mean")
    height = max(3.0, 0.16 * len(summary) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, height), layout="constrained")
    pos = {k: i for i, k in enumerate(by_mean.index)}
    rng = np.random.default_rng(0)
    a.scatter(t["Training time (mins)"], t.Inputs.map(pos) + rng.uniform(-0.15, 0.15, len(t)), s=8,
              color="grey", alpha=0.5)
    a.errorbar(by_mean["mean"], range(len(by_mean)), xerr=by_mean.half, fmt="D", color="black", ms=3, capsize=2)
    a.set_yticks(range(len(by_mean)), by_mean.index, fontsize=6)
    a.set_xlabel(minutes_label)
    a.set_title("A", loc="left", fontweight="bold")
    by_hours = summary.sort_values("hours")
    b.barh(range(len(by_hours)), by_hours.hours, color="#333333")
    b.set_yticks(range(len(by_hours)), by_hours.index, fontsize=6)
    b.set_xlabel("Total training time per input set (hours)")
    b.set_title("B", loc="left", fontweight="bold")
    for ax in (a, b):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def headline(metrics: pd.DataFrame, best: pd.DataFrame | None = None) -> pd.DataFrame:
    """The best model of each target with its test score, by domain (the paper's summary).
    ``best``: the choice (``best_models.csv``); default :func:`legibility.evaluation.best_models`."""
    best = (best_models(metrics) if best is None else best).copy()
    best["domain"] = [target(t).domain for t in best.Target]
    order = {t.display: i for i, t in enumerate(TARGETS.values())}
    best = best.sort_values("Target", key=lambda s: s.map(order)).reset_index(drop=True)
    return best[["domain", "Target", "Inputs", "metric", "selected_by", "val_score", "test_score"]]


def plot_networks(graphs: dict, seed: int = 0):
    """The target graphs side by side (networkx drawings): nodes coloured by domain, sized by
    their ``size`` attribute, edge width by weight."""
    import networkx as nx

    from legibility.networks import layout

    fig, axes = plt.subplots(1, len(graphs), figsize=(5.5 * len(graphs), 5.2), squeeze=False, layout="constrained")
    for ax, (title, g) in zip(axes[0], graphs.items(), strict=True):
        pos = layout(g, seed)
        sizes = np.array([d.get("size", 0.0) for _, d in g.nodes(data=True)])
        span = np.ptp(sizes) if len(sizes) else 0
        node_size = 80 + 600 * ((sizes - sizes.min()) / span if span > 0 else 0.5)
        weights = np.array([w for _, _, w in g.edges(data="weight")] or [1.0])
        nx.draw_networkx_edges(g, pos, ax=ax, width=0.3 + 2.5 * weights / weights.max(), alpha=0.35)
        nx.draw_networkx_nodes(g, pos, ax=ax, node_size=node_size, edgecolors="black", linewidths=0.5,
                               node_color=[DOMAIN_COLOURS[d["domain"]] for _, d in g.nodes(data=True)])
        nx.draw_networkx_labels(g, pos, ax=ax, font_size=7)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    return fig
