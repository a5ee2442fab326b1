"""Put each of our figures beside the paper's, one PNG per figure, for checking by eye.

Usage:
    legibility analyse --metrics published --out results/published --cohort <a cohort>
    python scripts/side_by_side.py results/published          # writes figures/side_by_side_*.png

The paper's renderings are read from ``../shared/paper/reference-figures`` (or ``--reference``);
they are not part of this repository, so neither are the side-by-sides (``figures/`` is ignored).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAIRS = {  # our figure -> the paper's
    "performance_grid": "performance_grid",
    "networks": "networks",
    "domain_effects": "data_utility",
    "training_efficiency": "training_efficiency",
}


def side_by_side(ours: Path, paper: Path, out: Path, width: float = 14.0) -> Path:
    """Ours on the left, the paper's on the right (stacked when both are wide), each titled."""
    a, b = plt.imread(ours), plt.imread(paper)
    wide = a.shape[1] / a.shape[0] > 1.6 and b.shape[1] / b.shape[0] > 1.6
    shape = (2, 1) if wide else (1, 2)
    ratios = [a.shape[0] / a.shape[1], b.shape[0] / b.shape[1]]
    height = width * (sum(ratios) if wide else max(ratios) / 2) + 0.6
    fig, axes = plt.subplots(*shape, figsize=(width, height), layout="constrained")
    for ax, img, title in zip(axes, (a, b), (f"ours: {ours.name}", f"paper: {paper.name}"), strict=True):
        ax.imshow(img)
        ax.set_title(title, fontsize=11, loc="left")
        ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ours", type=Path, help="folder holding our PNGs (legibility analyse --out)")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "paper" / "reference-figures")
    parser.add_argument("--out", type=Path, default=ROOT / "figures")
    args = parser.parse_args(argv)
    made = 0
    for mine, theirs in PAIRS.items():
        ours, paper = args.ours / f"{mine}.png", args.reference / f"{theirs}.png"
        if not ours.exists() or not paper.exists():
            print(f"skipped {mine}: {'no ' + str(ours) if not ours.exists() else 'no ' + str(paper)}")
            continue
        print(side_by_side(ours, paper, args.out / f"side_by_side_{mine}.png"))
        made += 1
    return 0 if made else 1


if __name__ == "__main__":
    raise SystemExit(main())
