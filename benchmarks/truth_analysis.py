"""The paper's domain effects on the truth, recorded: `legibility truth` on a synthetic cohort,
then a page that says, per domain term, which effects the ceilings show and which only the
trained models (the linear peers, the published table) show.

Usage: python benchmarks/truth_analysis.py --inpath COHORT --out DIR [--sweep CSV] [--reuse] [--record NAME]
(``--reuse``: read DIR's ``truth_effects.csv`` from an earlier `legibility truth --out DIR`).
Writes benchmarks/results/NAME.md, NAME.csv (the effects, every source) and NAME.png; NAME is
``truth_analysis`` unless given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def _verdict(row: pd.Series, sources) -> str:
    """How one term reads across the sources: the sign (at p < 0.05) of each."""
    def sign(s):
        p, c = row.get(f"p|{s}", np.nan), row.get(f"coef|{s}", np.nan)
        if not np.isfinite(p):
            return None
        return "+" if p < 0.05 and c > 0 else "-" if p < 0.05 else "0"

    signs = {s: sign(s) for s in sources}
    truth, learned = signs.get("ceiling"), [signs[s] for s in sources if s != "ceiling" and signs[s] is not None]
    if truth is None:
        return "no ceiling fit"
    if truth != "0" and all(v == truth for v in learned):
        return "in the truth, and every learner shows it"
    if truth != "0":
        return "in the truth; " + ", ".join(f"{s} {signs[s]}" for s in sources if s != "ceiling" and signs[s])
    shown = [s for s in sources if s != "ceiling" and signs[s] not in (None, "0")]
    return ("not in the truth (ceiling 0); only " + ", ".join(f"{s} {signs[s]}" for s in shown) + " show it"
            if shown else "in none")


def main():
    from legibility.figures.effects import domain_panel_rows
    from legibility.study import DOMAINS
    from legibility.truth import SOURCES, run_truth

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inpath", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sweep", default=None)
    ap.add_argument("--published", default="published")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--record", default="truth_analysis", help="the record's name under benchmarks/results/")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    if args.reuse:
        effects = pd.read_csv(out / "truth_effects.csv")
        seconds = float("nan")
    else:
        result = run_truth(args.inpath, out, sweep_metrics=args.sweep, published=args.published, progress=True)
        effects, seconds = result["effects"], result["peer_seconds"]
    info = json.loads((Path(args.inpath) / "cohort.json").read_text())
    sources = [s for s in SOURCES if s in set(effects.source)]
    RESULTS.mkdir(exist_ok=True)
    effects.to_csv(RESULTS / f"{args.record}.csv", index=False)
    drawn = []
    for key in ("constitutional", "psychology", "disease", "serology"):
        for s in sources:
            rows = domain_panel_rows(effects[effects.source == s], key)
            drawn += [{"domain": DOMAINS[key].name, "source": s, **r} for r in rows.to_dict("records")]
    drawn = pd.DataFrame(drawn)
    wide = drawn.pivot_table(index=["domain", "term"], columns="source", values=["coef", "se", "p"], sort=False)
    wide.columns = [f"{a}|{b}" for a, b in wide.columns]
    lines = [f"# The paper's domain effects against the truth ({time.strftime('%Y-%m-%d')})", "",
             f"Cohort: synthetic, generator {info.get('version')}, seed {info.get('seed')}, {info.get('n')} "
             f"participants ({info.get('n_train')} TRAIN, {info.get('n_test')} TEST), {info.get('side')}^3; "
             f"ceilings on {info.get('ceiling_n')} reference participants (`legibility cohort --n {info.get('n')} "
             f"--side {info.get('side')} --seed {info.get('seed')} --ceiling_n {info.get('ceiling_n')}`). "
             "Made by `python benchmarks/truth_analysis.py --inpath COHORT --out DIR` (`legibility truth`).", "",
             "Sources: **ceiling** the ground-truth ceilings (ground_truth.csv, 700 models); **linear peer** the "
             "linear peers of all 700 models on this cohort (test scores, penalty chosen on validation)"
             + (f", fitted in {seconds:.0f} s" if np.isfinite(seconds) else "")
             + "; **published** the paper's table (UK Biobank)"
             + ("; **deep** the deep sweep" if "deep" in sources else "; no deep sweep was run on this cohort")
             + ". Fits: nlme's REML random-intercept model per domain (`legibility.analysis`); the paper's drawn "
             "fits (balanced accuracy; serology the additive R² model). Cells: coefficient (SE) and stars "
             "(* p<0.05, ** p<0.01, *** p<0.001, t on nlme's df).", "",
             "| domain | term | " + " | ".join(sources) + " | reading |",
             "|---|---|" + "---|" * len(sources) + "---|"]
    for (domain, term), row in wide.iterrows():
        from legibility.analysis import stars

        cells = []
        for s in sources:
            c, se, p = row.get(f"coef|{s}", np.nan), row.get(f"se|{s}", np.nan), row.get(f"p|{s}", np.nan)
            cells.append(f"{c:+.3f} ({se:.3f}){stars(p)}" if np.isfinite(c) else "n/e")
        lines.append(f"| {domain} | {term} | " + " | ".join(cells) + f" | {_verdict(row, sources)} |")
    lines += ["", "Signs in the reading column: + or - a coefficient with p < 0.05, 0 one without; n/e not "
              "estimable. The ceilings are the synthetic generator's truth, not UK Biobank's: an effect they lack "
              "and a learner shows is one that training at a fixed n produces where the information is absent. "
              "The ceilings carry almost no noise (each a held-out score on thousands of reference participants, "
              "made monotone in the inputs), so effects of a few thousandths reach significance there. "
              f"Figure: {args.record}.png (`legibility truth --out DIR` writes DIR/truth_effects.png).", ""]
    (RESULTS / f"{args.record}.md").write_text("\n".join(lines))
    figure = out / "truth_effects.png"
    if figure.exists():
        (RESULTS / f"{args.record}.png").write_bytes(figure.read_bytes())
    print("\n".join(lines))
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
