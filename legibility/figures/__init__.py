"""Figure functions: each takes data and an optional ``ax=``, returns the figure or axes, and
never decides where files go; :func:`save_figure` is the one place that writes them.
:func:`panel_letter` letters a panel as the paper does."""

from __future__ import annotations

from pathlib import Path

__all__ = ["panel_letter", "save_figure"]


def save_figure(fig, name: str, out_dir=None, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.<fmt>`` (PNG for viewing, PDF for print)."""
    from legibility.paths import FIGURES

    out_dir = Path(out_dir) if out_dir else FIGURES
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        fig.savefig(path, dpi=150 if fmt == "png" else None, bbox_inches="tight")
        written.append(path)
    return written


def panel_letter(ax, letter: str, size: float = 13, **kw):
    """The paper's panel letter: left of everything the panel draws on the left (its y tick
    labels, its title), level with the top of the axes or of the title; a constrained layout
    makes room for it. Returns the annotation."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    said = {ax.get_title(loc) for loc in ("left", "center", "right")} - {""}
    titles = [c for c in ax.get_children() if isinstance(c, Text) and c.get_text() in said]

    def frame(renderer):
        return Bbox.union([ax.bbox, ax.yaxis.get_tightbbox(renderer),
                           *(t.get_window_extent(renderer) for t in titles)])

    return ax.annotate(letter, xy=(0, 1), xycoords=frame, xytext=(-6, 0), textcoords="offset points", ha="right",
                       va="top", fontsize=size, **kw)
