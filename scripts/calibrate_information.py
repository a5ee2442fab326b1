"""Re-run the calibration of rho^2 (how much of each characteristic each modality carries) to
the paper's published table, and print what was found beside the values in use.

    python scripts/calibrate_information.py [--n 20000] [--out calibration.csv]

The values found go into ``RHO2`` in ``legibility/cohort/information.py`` by hand (rounded), so
that a change of the generator's calibration is a reviewed edit, not a side effect.
"""

import argparse

from legibility.cohort.calibration import calibrate

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="reference participants (half fit, half scored)")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="", help="also write the table to this CSV")
    args = parser.parse_args()
    table = calibrate(n=args.n, seed=args.seed)
    print(table.to_string(index=False, float_format="%.4f"))
    if args.out:
        table.to_csv(args.out, index=False)
