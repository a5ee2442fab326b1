"""The domain effects as the paper drew them ("data utility"): one coefficient plot per domain
in a 2 x 2 grid (A Constitutional, B Psychology, C Disease, D Serology), each titled with its
round domain badge and its numbers of models and targets; the inputs on the y-axis, named as
the paper names them and ordered by coefficient (most advantageous on top); each coefficient
a black dot with its 95% CI and its stars above it; a dashed zero line and the x-axis
"Coefficient to [BA ~ Input + (1|Target)]  Detrimental <- -> Advantageous". The serology panel
shows the additive R² model, as the paper's does. Sized to print across a page (7.2 in) with
no text under 7 pt."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from legibility.analysis import stars
from legibility.errors import SettingError
from legibility.figures import panel_letter
from legibility.figures.grid import PANEL_ORDER
from legibility.study import DOMAIN_COLOURS, DOMAINS

__all__ = ["PANEL_ORDER", "SOURCE_COLOURS", "domain_panel_rows", "plot_domain_effects", "plot_domain_panel",
           "plot_effects_by_source", "term_label"]

_FONT = 7  # points: tick labels and axis labels, legible when printed at the figure's own size
_TERM_LABELS = {"T1": "T1 * FLAIR", "DWI": "DWI", "rsfMRI connectivity": "rsfMRI Connectivity",
                **{d.name: f"Non-imaging data ({d.letter})" for d in DOMAINS.values()}}
_OUTCOME = {"Balanced accuracy": "BA", "r2": "R²"}
_ROW = 0.22  # inches per term
_FRAME = 1.1  # inches of a panel besides its terms: title, x ticks, the two-line x label
_BADGE = 14  # points: the domain badge's diameter
_PANEL_WIDTH = 3.6  # inches


def term_label(term: str) -> str:
    """The paper's name for a fixed effect: ``T1`` (T1 and FLAIR enter together) is "T1 *
    FLAIR", a domain's metadata block is "Non-imaging data (D)", an interaction joins its
    parts with " : "."""
    return " : ".join(_TERM_LABELS.get(part, part) for part in term.split(":"))


def domain_panel_rows(effects: pd.DataFrame, domain: str) -> pd.DataFrame:
    """The fit drawn for ``domain`` (a key of DOMAINS), without its intercept: balanced
    accuracy, or for serology the additive R² model (the paper's panel D; the balanced-accuracy
    model when there is no R² fit). Empty when the table holds no fit of that domain."""
    name = DOMAINS[domain].name
    sub = effects[effects.domain == name]
    if domain == "serology":
        additive = sub[(sub.outcome == "r2") & ~sub.formula.str.contains(":")]
        sub = additive if len(additive) else sub[sub.outcome == "Balanced accuracy"]
    else:
        sub = sub[sub.outcome == "Balanced accuracy"]
    return sub[sub.term != "Intercept"].reset_index(drop=True)


def _title(rows: pd.DataFrame) -> str:
    r = rows.iloc[0]
    return f"{r.domain}: Models (n={int(r.n)}) | Targets (n={int(r.n_targets)})"


def _badge(ax, title, domain: str):
    """The round domain badge, over the blank start of the panel's title (so that the layout
    makes room for it)."""
    return ax.annotate(DOMAINS[domain].letter, xy=(0, 0.5), xycoords=title, xytext=(_BADGE / 2, 0),
                       textcoords="offset points", ha="center", va="center", fontsize=_FONT, fontweight="bold",
                       gid=f"badge:{domain}",
                       bbox={"boxstyle": "circle,pad=0.35", "fc": DOMAIN_COLOURS[domain], "ec": "black", "lw": 0.7})


def plot_domain_panel(rows: pd.DataFrame, ax=None):
    """One domain's coefficient plot.

    Parameters
    ----------
    rows : DataFrame
        One fit's rows of :func:`legibility.analysis.domain_effects` (e.g. from
        :func:`domain_panel_rows`); an ``Intercept`` row is left out.
    ax : Axes, optional
        Where to draw; a new figure's axes by default.

    Returns
    -------
    Axes
        y tick labels are the terms (:func:`term_label`), most advantageous on top; terms that
        could not be estimated are listed last and say so; each star text's gid is
        ``stars:<term>``.
    """
    if ax is None:
        with sns.axes_style("ticks"):
            _, ax = plt.subplots(figsize=(3.6, _FRAME + _ROW * max(len(rows), 1)), layout="constrained")
    rows = rows[rows.term != "Intercept"]
    rows = rows.assign(_missing=rows.coef.isna()).sort_values(["_missing", "coef"], ascending=[True, False],
                                                              kind="stable")
    y = np.arange(len(rows))[::-1].astype(float)  # first row on top
    ok = rows.coef.notna().to_numpy()
    est = rows[ok]
    ax.errorbar(est.coef, y[ok], xerr=[est.coef - est.ci_low, est.ci_high - est.coef], fmt="o", color="#222222",
                markersize=4.5, elinewidth=1.1, capsize=3, capthick=1.1, zorder=3)
    for yi, r in zip(y, rows.itertuples(), strict=True):
        if np.isfinite(r.coef):
            ax.annotate(stars(r.p), (r.coef, yi), xytext=(0, 1.5), textcoords="offset points", ha="center",
                        va="bottom", fontsize=_FONT + 1, gid=f"stars:{r.term}")
        elif ok.any():  # the others were estimated: say why this one was not
            ax.text(0.5, yi, str(r.status).split(" (")[0], transform=ax.get_yaxis_transform(), va="center",
                    ha="center", fontsize=_FONT, color="grey", zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"})
    ax.axvline(0, color="black", ls="--", lw=1, zorder=1)
    if ok.any():
        span = np.abs(np.r_[est.ci_low, est.ci_high]).max()
        ax.set_xlim(-1.1 * span, 1.1 * span)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))
    else:
        ax.set_xticks([])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(y, [term_label(t) for t in rows.term])
    ax.spines[["top", "right"]].set_visible(False)
    if len(rows) > 1:
        ax.spines["left"].set_bounds(0, len(rows) - 1)
    ax.tick_params(labelsize=_FONT, length=3, width=0.8)
    outcome = _OUTCOME.get(rows.outcome.iloc[0], rows.outcome.iloc[0]) if len(rows) else "outcome"
    label = ax.set_xlabel(f"Coefficient to [{outcome} ~ Input + (1|Target)]\nDetrimental ← → Advantageous",
                          fontsize=_FONT + 0.5, linespacing=1.3)
    if len(rows):
        key = next((k for k, d in DOMAINS.items() if d.name == rows.domain.iloc[0]), None)
        blank = " " * int(np.ceil((_BADGE + 4) / (0.32 * (_FONT + 1)))) if key else ""  # a space is ~0.32 em
        title = ax.set_title(blank + _title(rows), fontsize=_FONT + 1, pad=6, loc="right")  # never past the panel
        if key:
            _badge(ax, title, key)
    notes = sorted({_note(s) for s in rows.status.dropna() if s != "ok" and not s.startswith("not estimable")})
    if notes and not ok.any():  # nothing to draw: the reason, in the middle
        ax.text(0.5, 0.5, "\n".join(textwrap.fill(n, 48) for n in notes), transform=ax.transAxes, ha="center",
                va="center", fontsize=_FONT, color="firebrick", gid="note",
                bbox={"boxstyle": "square,pad=0.3", "fc": "white", "ec": "none"})
    elif notes:  # a warning about the fit: under the x label
        ax.annotate("\n".join(textwrap.fill(n, 44) for n in notes), xy=(0.5, 0), xycoords=label,
                    xytext=(0, -3), textcoords="offset points", ha="center", va="top", fontsize=_FONT,
                    color="firebrick", gid="note")
    return ax


def _note(status: str) -> str:
    """A fit's ``status`` as the figure says it: of ``"ok (the variance ...)"`` only what is in the
    brackets (the word ``ok`` is for the table, not the figure)."""
    if status.startswith("ok (") and status.endswith(")"):
        return status[4:-1]
    return status


def plot_domain_effects(effects: pd.DataFrame, fig=None, ncols: int = 2, width: float | None = None):
    """The paper's domain-effects figure: a coefficient plot per domain with a fit, lettered A-D
    in the paper's order (Constitutional, Psychology, Disease, Serology), ``ncols`` a row.

    Parameters
    ----------
    effects : DataFrame
        :func:`legibility.analysis.domain_effects` of a metrics table.
    fig : Figure or SubFigure, optional
        Where to draw (one subfigure per panel is made in it); a new figure by default,
        ``width`` inches wide.
    ncols : int
        Panels per row: 2 as the paper; 4 for one row.
    width : float, optional
        Inches, for a new figure; by default 3.6 a panel (two panels, 7.2 in, print across a
        page with 7 pt labels; narrower panels crowd their titles).

    Returns
    -------
    Figure or SubFigure
        The one given, or the new figure.
    """
    panels = [(k, rows) for k in PANEL_ORDER if len(rows := domain_panel_rows(effects, k))]
    if not panels:
        raise SettingError("effects holds no domain fit to draw; is it legibility.analysis.domain_effects of a "
                         "metrics table in the published schema?")
    nrows = -(-len(panels) // ncols)
    lines = [panels[i * ncols:(i + 1) * ncols] for i in range(nrows)]
    heights = [_FRAME + _ROW * max(len(rows) for _, rows in line) for line in lines]
    if fig is None:
        width = _PANEL_WIDTH * min(ncols, len(panels)) if width is None else width
        fig = plt.figure(figsize=(width, sum(heights)), layout="constrained")
    subs = fig.subfigures(nrows, min(ncols, len(panels)), height_ratios=heights, wspace=0.04, hspace=0.04,
                         squeeze=False).ravel()
    most = [max(len(rows) for _, rows in line) for line in lines for _ in line]
    for k, (sub, (key, rows), m) in enumerate(zip(subs, panels, most, strict=False)):
        # a panel with fewer terms than its neighbour keeps the same spacing, blank space below
        gs = sub.add_gridspec(2, 1, height_ratios=[_FRAME + _ROW * len(rows), _ROW * (m - len(rows)) + 1e-6])
        with sns.axes_style("ticks"):
            ax = sub.add_subplot(gs[0])
        plot_domain_panel(rows, ax=ax)
        panel_letter(ax, "ABCDEFGH"[k], gid=f"letter:{key}")
    return fig


# The four sources of legibility.truth, from the truth to the paper: the ceiling black (the
# data's own answer), the learners in greys and blue.
SOURCE_COLOURS = {"ceiling": "#000000", "linear peer": "#8c8c8c", "deep": "#d95f02", "published": "#1f78b4"}


def plot_effects_by_source(effects: pd.DataFrame, width: float = 7.2):
    """The domain effects of several sources side by side per term, in the style of the paper's
    data-utility figure: a panel per domain (A Constitutional, B Psychology, C Disease,
    D Serology's additive R² model), each term a row with one dot and 95% CI per source, dodged,
    its stars beside it, a dashed zero line.

    Parameters
    ----------
    effects : DataFrame
        :func:`legibility.truth.effects_by_source` (a ``source`` column beside
        :func:`legibility.analysis.domain_effects`' columns).
    width : float
        Inches.

    Returns
    -------
    Figure
        Each panel's dots carry the gid ``dots:<domain key>:<source>``; the legend names each
        source with its numbers of models.
    """
    sources = list(dict.fromkeys(effects.source))
    panels = [k for k in PANEL_ORDER if any(len(domain_panel_rows(g, k)) for _, g in effects.groupby("source"))]
    if not panels:
        raise ValueError("effects holds no domain fit to draw; is it legibility.truth.effects_by_source?")
    terms = {k: list(dict.fromkeys(t for s in sources for t in domain_panel_rows(effects[effects.source == s], k).term))
             for k in panels}
    heights = [_FRAME + 0.42 * max(len(terms[k]) for k in panels[i:i + 2]) for i in range(0, len(panels), 2)]
    with sns.axes_style("ticks"):
        fig, axes = plt.subplots(len(heights), min(2, len(panels)), figsize=(width, sum(heights) + 0.5),
                                 layout="constrained", squeeze=False, height_ratios=heights)
    step = 0.8 / max(len(sources), 1)
    for k, (key, ax) in enumerate(zip(panels, axes.ravel(), strict=False)):
        names = terms[key]
        y0 = np.arange(len(names))[::-1].astype(float)
        counts = []
        for j, source in enumerate(sources):
            rows = domain_panel_rows(effects[effects.source == source], key).set_index("term")
            if not len(rows):
                continue
            counts.append(f"{source} {int(rows.n.iloc[0])}")
            rows = rows.reindex(names)
            ok = rows.coef.notna().to_numpy()
            y = y0 + 0.4 - step / 2 - j * step
            ax.errorbar(rows.coef[ok], y[ok], xerr=[(rows.coef - rows.ci_low)[ok], (rows.ci_high - rows.coef)[ok]],
                        fmt="o", color=SOURCE_COLOURS.get(source), markersize=3.2, elinewidth=0.9,
                        capsize=1.5, label=source, gid=f"dots:{key}:{source}", zorder=3)
            for yi, r in zip(y[ok], rows[ok].itertuples(), strict=True):
                ax.annotate(stars(r.p), (r.ci_high, yi), xytext=(2, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=_FONT - 1, color=SOURCE_COLOURS.get(source, "black"))
        ax.axvline(0, color="black", ls="--", lw=0.8, zorder=1)
        for yi in y0[:-1] - 0.5:
            ax.axhline(yi, color="#dddddd", lw=0.5, zorder=0)
        ax.set_yticks(y0, [term_label(t) for t in names])
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=_FONT, length=3, width=0.8)
        outcome = "R²" if key == "serology" else "BA"
        ax.set_xlabel(f"Coefficient to [{outcome} ~ Input + (1|Target)]\nDetrimental ← → Advantageous",
                      fontsize=_FONT + 0.5, linespacing=1.3)
        blank = " " * int(np.ceil((_BADGE + 4) / (0.32 * (_FONT + 1))))
        sizes = {c.rsplit(" ", 1)[1] for c in counts}
        said = (f": {sizes.pop()} models a source" if len(sizes) == 1  # sources of unequal size: a second line
                else "\n" + blank + "models " + ", ".join(counts))
        title = ax.set_title(blank + f"{DOMAINS[key].name}{said}", fontsize=_FONT, pad=6, loc="right")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        _badge(ax, title, key)
        panel_letter(ax, "ABCD"[k], gid=f"letter:{key}")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=_FONT + 0.5, frameon=False)
    return fig
