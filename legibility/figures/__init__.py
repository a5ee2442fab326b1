"""Figure functions: each takes data and an optional ``ax=``, returns the figure or axes, and
never decides where files go; :func:`save_figure` is the one place that writes them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["save_figure"]


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
