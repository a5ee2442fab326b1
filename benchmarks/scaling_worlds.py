"""The data-scaling study in the synthetic worlds, side by side.

Records finished ``legibility scaling`` runs (age and sex from T1 + FLAIR, the ``cpu`` preset
and its linear peer on nested training subsets, two seeds), one a world: the linear world, the
anatomical world with suite v1's 3 mm individual anatomy, and the calibrated anatomical world
(8 mm, diffeomorphic, suite v2). Each run's table and settings are copied under
``benchmarks/results/scaling_worlds/``; the figure (a row a world, a column a target: the ceiling
band, the linear asymptote where the world has one, both learners' test scores with their 95%
intervals) and the page's table of means over seeds are built from every recorded world, so
one world can be added or re-run without the others' run folders. In the calibrated world's age
panel, the network behind the learned registration front end (``registered_network.py --front
learned``, one seed, its rows in ``registered_network.csv``) is drawn beside the two learners.

Usage::

    legibility scaling --inpath LINEAR --target age sex --inputs t1 flair --sizes 250 1000 4000 \\
        --seeds 2 --torch_threads 1 --out LIN_OUT
    legibility scaling --inpath ANATOMICAL ... --out ANAT_OUT
    python benchmarks/scaling_worlds.py --linear LIN_OUT --anatomical ANAT_OUT --calibrated CAL_OUT
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from legibility.figures.scaling import plot_scaling

RESULTS = Path(__file__).resolve().parent / "results" / "scaling_worlds"
# world -> how the page names it
WORLDS = {"linear": "linear world", "anatomical": "anatomical world, 3 mm anatomy (as suite v1)",
          "calibrated": "anatomical world, 8 mm diffeomorphic anatomy (as suite v2)"}
SHORT = {"linear": "linear world", "anatomical": "anatomical, 3 mm", "calibrated": "anatomical, 8 mm (calibrated)"}


def means(table: pd.DataFrame) -> pd.DataFrame:
    """Mean test score (and its spread over seeds) per target, size and learner, and the gap."""
    g = table.groupby(["target", "n_train", "learner"])["test_score"].agg(["mean", "min", "max", "count"])
    wide = g["mean"].unstack("learner")
    wide["deep - linear"] = wide["deep"] - wide["linear"]
    bounds = table.groupby(["target", "n_train"])[["ceiling", "linear_asymptote"]].first()
    return wide.join(bounds).reset_index()


def registering_points() -> pd.DataFrame:
    """The learned-registration network's test R² (and 95% CI) on suite v2 at each training size."""
    path = RESULTS.parent / "registered_network.csv"
    if not path.exists():
        return pd.DataFrame(columns=["n_train", "r2", "ci_low", "ci_high"])
    t = pd.read_csv(path)
    t = t[(t["front"] == "learned") & (t["mode"] == "Test") & t["record"].str.startswith("v2_test_learned")]
    return pd.DataFrame({"n_train": t["n_train"].astype(int), "r2": t["network_registered_r2"], "ci_low": t["ci_low"],
                         "ci_high": t["ci_high"]}).sort_values("n_train")


def record(world: str, src: Path):
    """Copy run ``src``'s table, and its settings with its cohort's, as world ``world``'s record."""
    shutil.copy(src / "scaling.csv", RESULTS / f"{world}.csv")
    run = json.loads((src / "scaling.json").read_text())
    info = json.loads((Path(run["data_path"]) / "cohort.json").read_text())
    (RESULTS / f"{world}.json").write_text(json.dumps({"run": run, "cohort": info}, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for world, about in WORLDS.items():
        ap.add_argument(f"--{world}", type=Path, help=f"a finished scaling run in the {about} (recorded anew)")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for world in WORLDS:
        if getattr(args, world) is not None:
            record(world, getattr(args, world))
    worlds = [w for w in WORLDS if (RESULTS / f"{w}.csv").exists()]
    if not worlds:
        ap.error("no world is recorded yet: give at least one finished scaling run")
    tables, lines = {}, ["# The data-scaling study in the synthetic worlds", ""]
    for world in worlds:
        info = json.loads((RESULTS / f"{world}.json").read_text())["cohort"]
        tables[world] = pd.read_csv(RESULTS / f"{world}.csv")
        anatomy = (f", individual anatomy {info['anatomy_mm']:g} mm"
                   f"{' (diffeomorphic)' if info.get('diffeomorphic') else ''}" if info.get("anatomy_mm") else "")
        lines += [f"**{WORLDS[world]}**: cohort seed {info['seed']}, {info['n']:,} participants at {info['side']}^3 "
                  f"(generator {info['version']}, shape share {info.get('shape_share') or 0}{anatomy}); "
                  f"{tables[world]['seed'].nunique()} seeds; {tables[world]['minutes'].sum():.0f} minutes of training "
                  "in all.", ""]
    fig, axes = plt.subplots(len(worlds), 2, figsize=(9.5, 3.8 * len(worlds)), squeeze=False)
    for row, world in zip(axes, worlds, strict=True):
        plot_scaling(tables[world], ax=row)
        for a in row:
            a.set_title(f"{SHORT[world]}: {a.get_title()}", fontsize=9)
        points = registering_points() if world == "calibrated" else None
        if points is not None and len(points):
            a = row[0]  # age
            a.errorbar(points.n_train, points.r2, yerr=[points.r2 - points.ci_low, points.ci_high - points.r2],
                       color="tab:green", marker="*", ms=9, capsize=3, label="deep, learned registration (seed 0)")
            a.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling_worlds.png", dpi=150, bbox_inches="tight")
    lines += ["![scaling in the synthetic worlds](scaling_worlds.png)", "",
              "Mean test score over seeds (R² for age, balanced accuracy for sex; 500 test participants):", "",
              "| world | target | n train | deep | linear peer | deep - linear | linear asymptote | ceiling |",
              "|---|---|---|---|---|---|---|---|"]
    for world in worlds:
        for r in means(tables[world]).to_dict("records"):
            asym = "" if pd.isna(r["linear_asymptote"]) else f"{r['linear_asymptote']:.3f}"
            lines.append(f"| {world} | {r['target']} | {r['n_train']:,} | {r['deep']:.3f} | {r['linear']:.3f} | "
                         f"{r['deep - linear']:+.3f} | {asym} | {r['ceiling']:.3f} |")
    lines += ["", "Commands: `legibility scaling --inpath COHORT --target age sex --inputs t1 flair --sizes 250 1000 "
              "4000 --seeds 2 --torch_threads 1 --out OUT` per world, then `python benchmarks/scaling_worlds.py "
              "--linear OUT --anatomical OUT --calibrated OUT` (any of them). The deep model is the `cpu` preset "
              "(its linear path starts at the peer's fit); each seed draws its own nested subsets and initialisation."]
    page = RESULTS / "README.md"
    kept = page.read_text().partition("\n## Reading")[1:] if page.exists() else ("", "")
    page.write_text("\n".join(lines) + "\n" + "".join(kept))  # the written reading stays
    print("\n".join(lines))


if __name__ == "__main__":
    main()
