"""Re-run the calibration of rho^2 (how much of each characteristic each modality carries) to
the paper's published table, and check the whole grid of ceilings against that table.

    python scripts/calibrate_information.py [--n 20000] [--out calibration.csv]
    python scripts/calibrate_information.py --checks [--published PATH]

The values found go into ``RHO2`` in ``legibility/cohort/information.py`` by hand (rounded), so
that a change of the generator's calibration is a reviewed edit, not a side effect. ``--checks``
computes the ceilings of all 700 models and prints: each target's best ceiling beside the
paper's best score, their rank correlation over the 25 targets, the correlation over all 700
models, and what fusing every modality adds to T1 + FLAIR for age, weight and sex.
"""

import argparse
from pathlib import Path

import pandas as pd

from legibility.cohort.calibration import calibrate, calibration_checks

PUBLISHED = Path(__file__).resolve().parents[2] / "shared" / "paper" / "metrics_comparison_test.csv"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="reference participants (half fit, half scored)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="", help="also write the table to this CSV")
    parser.add_argument("--checks", action="store_true", help="check the whole grid against the paper instead")
    parser.add_argument("--published", default=str(PUBLISHED),
                        help="the paper's metrics_comparison_test.csv (fetched from upstream, checksum "
                             "checked, when this file is absent)")
    args = parser.parse_args()
    if args.checks:
        from legibility.cohort.ground_truth import ceilings

        table = ceilings(n=args.n, seed=args.seed, progress=True)
        published = Path(args.published)
        if not published.exists():
            from legibility.analysis import fetch_published

            published = fetch_published()
        checks = calibration_checks(table, pd.read_csv(published))
        print(checks["best"].to_string(float_format="%.3f"))
        print(f"\nSpearman over the 25 best scores: {checks['spearman_best']:.3f}")
        print(f"Pearson over all 700 models: {checks['pearson_all']:.3f} "
              f"(mean absolute difference {checks['mean_abs_diff_all']:.3f})")
        for name, gain in checks["fusion"].items():
            print(f"{name}: all imaging minus T1 + FLAIR = {gain:+.4f}")
        if args.out:
            table.to_csv(args.out, index=False)
    else:
        table = calibrate(n=args.n, seed=args.seed)
        print(table.to_string(index=False, float_format="%.4f"))
        if args.out:
            table.to_csv(args.out, index=False)
