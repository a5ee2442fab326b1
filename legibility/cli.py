"""The ``legibility`` command: each subcommand is a few lines calling the package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_grid(args) -> int:
    from legibility.study import grid_table

    table = grid_table()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {len(table)} models ({table['Target'].nunique()} targets) to {out}")
    return 0


def _cmd_cohort(args) -> int:
    from legibility.cohort.writer import generate_cohort

    info = generate_cohort(args.out, n=args.n, side=args.side, seed=args.seed,
                           regions=args.regions, nodes=args.nodes, workers=args.workers,
                           ceiling_n=args.ceiling_n)
    print(f"wrote {info['n']} participants ({info['n_train']} TRAIN, {info['n_test']} TEST) "
          f"at {info['side']}^3 to {args.out} in {info['seconds']:.1f} s")
    return 0


def _cmd_check(args) -> int:
    from legibility.data.layout import load_dataset

    ds = load_dataset(args.inpath, strict=args.strict)
    print(ds.report())
    return 0


def _cmd_paper(args) -> int:
    from legibility import paths
    from legibility.pipeline import run_paper

    params = {"n_participants": args.n, "side": args.side, "seed": args.seed,
              "figures_dir": str(paths.FIGURES)}
    if args.inpath:
        params["data_path"] = args.inpath
    done = run_paper(params)
    print("executed notebooks:", *[str(p) for p in done], sep="\n  ")
    print(f"figures: {paths.FIGURES}")
    print(f"wall time: {(paths.RESULTS / 'paper_wall_time.txt').read_text().strip()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="legibility",
        description="Which characteristics can be read from brain imaging? "
                    "(Ruffle et al., NeuroImage 2024, made runnable.)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grid", help="write the paper's 700-model grid as CSV")
    g.add_argument("--out", required=True, help="CSV file to write")
    g.set_defaults(func=_cmd_grid)

    c = sub.add_parser("cohort", help="generate a synthetic cohort in the paper's layout")
    c.add_argument("--out", required=True, help="folder to write (must be empty or absent)")
    c.add_argument("--n", type=int, default=200, help="participants (default 200)")
    c.add_argument("--side", type=int, default=64, help="voxels per side (default 64)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--regions", type=int, default=96,
                   help="brain regions carrying the many small effects (>= 25, default 96)")
    c.add_argument("--nodes", type=int, default=100,
                   help="connectivity nodes (default 100; the paper used 360)")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    c.add_argument("--ceiling-n", dest="ceiling_n", type=int, default=20_000,
                   help="sample size for the ground-truth ceilings (default 20000)")
    c.set_defaults(func=_cmd_cohort)

    k = sub.add_parser("check", help="validate a dataset and report counts per split")
    k.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    k.add_argument("--strict", action="store_true",
                   help="a participant missing a modality is an error, not a warning")
    k.set_defaults(func=_cmd_check)
    pp = sub.add_parser("paper", help="run the notebooks in order with papermill (the main job)")
    pp.add_argument("--inpath", default="", help="your dataset (default: a synthetic cohort)")
    pp.add_argument("--n", type=int, default=1000, help="synthetic cohort size (default 1000)")
    pp.add_argument("--side", type=int, default=32, help="working side of the volumes (default 32)")
    pp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    pp.set_defaults(func=_cmd_paper)
    return p


def main(argv=None) -> int:
    from legibility.errors import LegibilityError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LegibilityError, FileExistsError, ValueError, KeyError, RuntimeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"legibility {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
