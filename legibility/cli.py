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


HELLO = """legibility train: train one model of the paper's grid -- one target from one set of inputs.

It reads a dataset (the paper's TRAIN/TEST layout or a manifest CSV), builds or reuses the
cache at --side, trains the fused network with the paper's rules (Adam, early stopping on
validation loss, best model kept, a checkpoint every epoch), and writes to
OUTPATH/<model name>/: metrics.csv (validation and test, published schema, original units, with
a linear peer's scores), training_progress.csv, curves, a confusion matrix or a scatter, and
best_model.pt.

Start with:
  legibility cohort --out data/synthetic --n 300 --side 32
  legibility train --inpath data/synthetic --outpath results/models --target age --inputs t1 flair
  legibility train ... --target hb --inputs dwi metadata --metadata_blocks constitutional disease
Targets: {targets}
Inputs: t1 flair dwi connectivity metadata; blocks: constitutional disease serology psychology
"""


def _cmd_train(args) -> int:
    if args.hello_world:
        from legibility.study import TARGETS

        print(HELLO.format(targets=", ".join(TARGETS)))
        return 0
    if not (args.target and args.inputs and args.inpath):
        raise ValueError("--target, --inputs and --inpath are required (see --hello_world).")
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.train import TrainConfig, train_model

    cfg = TrainConfig(
        target=args.target, inputs=tuple(args.inputs), metadata_blocks=tuple(args.metadata_blocks or ()),
        preset=args.preset, side=args.side, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        patience=args.patience, seed=args.seed, device=args.device, num_workers=args.num_workers,
        data_size=args.data_size, diagnostic=args.diagnostic, augment=args.augment,
        tensorboard=args.tensorboard)
    from legibility.train import resolve_inputs

    resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)  # fail fast, before the cache
    cache = build_cache(load_dataset(args.inpath), args.side)
    row = train_model(cache, cfg, args.outpath, restore=args.restore)
    key = "Balanced accuracy" if row["r2"] == 0 and row["MAE"] == 0 else "r2"
    print(f"{row['Target']} from {row['Inputs']}: test {key} {row[key]:.3f} "
          f"(95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f}); linear peer "
          f"{row['linear_balanced_accuracy'] if key != 'r2' else row['linear_r2']:.3f}")
    return 0


def _cmd_predict(args) -> int:
    from pathlib import Path

    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.train import load_predictor, predict

    _, state = load_predictor(args.model)
    cache = build_cache(load_dataset(args.inpath), state["model_config"]["side"])
    table = predict(args.model, cache)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"wrote {len(table)} predictions to {args.out}")
    return 0


def _cmd_sweep(args) -> int:
    from pathlib import Path

    import pandas as pd

    from legibility.sweep import SweepConfig, sweep

    cfg = SweepConfig(preset=args.preset, side=args.side, epochs=args.epochs, patience=args.patience, lr=args.lr,
                      batch_size=args.batch_size, seed=args.seed, device=args.device, num_workers=args.num_workers,
                      data_size=args.data_size, torch_threads=args.torch_threads,
                      cpus_per_model=args.cpus_per_model, gpus_per_model=args.gpus_per_model)
    test = sweep(args.inpath, args.outpath, args.grid, executor=args.executor, address=args.address, config=cfg)
    failures = len(pd.read_csv(Path(args.outpath) / "failures.csv"))
    print(f"{len(test)} models in {Path(args.outpath) / 'metrics_comparison_test.csv'}"
          + (f"; {failures} failed (see failures.csv)" if failures else ""))
    return 1 if failures else 0


def _cmd_analyse(args) -> int:
    from legibility.report import analyse

    result = analyse(args.metrics, args.out, cohort=args.cohort, figures_dir=args.figures)
    effects = result["effects"]
    shown = effects[effects.term != "Intercept"][["domain", "outcome", "term", "coef", "p", "status"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nwrote:", *[str(p) for v in result["paths"].values() for p in (v if isinstance(v, list) else [v])],
          sep="\n  ")
    return 0


def _cmd_scaling(args) -> int:
    from legibility.scaling import ScalingConfig, scaling_study

    cfg = ScalingConfig(targets=tuple(args.target), inputs=tuple(args.inputs), sizes=tuple(args.sizes),
                        seeds=args.seeds, samples=args.samples, max_epochs=args.max_epochs, patience=args.patience,
                        preset=args.preset, device=args.device, torch_threads=args.torch_threads, progress=True)
    table = scaling_study(args.inpath, args.out, cfg)
    if args.figure:
        from legibility.figures import save_figure
        from legibility.figures.scaling import plot_scaling

        save_figure(plot_scaling(table), "scaling", args.out, formats=("png",))
    print(f"{len(table)} rows in {Path(args.out) / 'scaling.csv'}")
    return 0


def _cmd_paper(args) -> int:
    from legibility import paths
    from legibility.pipeline import PAPER_SCALING, run_paper, summary

    params = {**PAPER_SCALING, "scaling_max_epochs": args.epochs,
              "n_participants": args.n, "side": args.side, "seed": args.seed, "epochs": args.epochs,
              "patience": args.patience, "grid": args.grid, "preset": args.preset, "executor": args.executor,
              "ceiling_n": args.ceiling_n, "figures_dir": str(paths.FIGURES),
              # notebook 02's worked example is the sweep's own age model: trained once, reused
              "outpath": "results/sweep", "sweep_dir": "results/sweep", "target": "age", "inputs": "t1 flair"}
    if args.inpath:
        params["data_path"] = args.inpath
    run_paper(params)
    print(summary(params))
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
    t = sub.add_parser("train", help="train one model (one target, one input set)")
    t.add_argument("--target", help="target key or the paper's name (e.g. age, hb, 'Sex (Male)')")
    t.add_argument("--inputs", nargs="+", help="input keys: t1 flair dwi connectivity metadata")
    t.add_argument("--metadata_blocks", nargs="*", help="domains: constitutional disease serology psychology")
    t.add_argument("--inpath", help="dataset folder or manifest CSV")
    t.add_argument("--outpath", default="results/models", help="where model folders go (default results/models)")
    t.add_argument("--device", default="cpu", help="cpu or cuda[:N] (bf16 autocast on CUDA)")
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--restore", action="store_true", help="resume from the last checkpoint")
    t.add_argument("--batch_size", type=int, default=None, help="default: the preset's (paper 64, cpu 16)")
    t.add_argument("--num_workers", type=int, default=0)
    t.add_argument("--lr", type=float, default=None, help="default: the preset's (paper 1e-4, cpu 1e-3)")
    t.add_argument("--patience", type=int, default=30)
    t.add_argument("--data_size", type=int, default=None, help="only the first N participants per split")
    t.add_argument("--diagnostic", action="store_true", help="constant inputs: test the pipeline only")
    t.add_argument("--hello_world", action="store_true", help="say what this does and how to start")
    t.add_argument("--side", type=int, default=32, choices=(32, 64, 128))
    t.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--augment", action="store_true", default=None,
                   help="small augmentations with p = 0.05 (default: the preset's, paper on, cpu off)")
    t.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    t.set_defaults(func=_cmd_train)

    pr = sub.add_parser("predict", help="apply a trained model to other participants")
    pr.add_argument("--model", required=True, help="a model folder holding best_model.pt")
    pr.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    pr.add_argument("--out", required=True, help="CSV of predictions to write")
    pr.set_defaults(func=_cmd_predict)

    sw = sub.add_parser("sweep", help="train a grid of models (locally or on Ray) and gather their metrics")
    sw.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    sw.add_argument("--outpath", required=True, help="folder of the model folders and gathered tables")
    sw.add_argument("--grid", default="quick", help="paper (700 models), quick (29) or a CSV with Target, Inputs")
    sw.add_argument("--executor", default="local", choices=("local", "ray"))
    sw.add_argument("--address", default=None, help="Ray cluster to join ('auto' or host:port); default: a local Ray")
    sw.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    sw.add_argument("--side", type=int, default=32, choices=(32, 64, 128))
    sw.add_argument("--epochs", type=int, default=50)
    sw.add_argument("--patience", type=int, default=30)
    sw.add_argument("--lr", type=float, default=None, help="default: the preset's (paper 1e-4, cpu 1e-3)")
    sw.add_argument("--batch_size", type=int, default=None, help="default: the preset's (paper 64, cpu 16)")
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--device", default="cpu", help="cpu or cuda (each Ray task then asks for --gpus_per_model)")
    sw.add_argument("--num_workers", type=int, default=0)
    sw.add_argument("--data_size", type=int, default=None, help="only the first N participants per split")
    sw.add_argument("--torch_threads", type=int, default=None, help="torch threads per model")
    sw.add_argument("--cpus_per_model", type=float, default=1.0, help="Ray CPUs per model (default 1)")
    sw.add_argument("--gpus_per_model", type=float, default=0.0, help="Ray GPUs per model (default 0)")
    sw.set_defaults(func=_cmd_sweep)

    an = sub.add_parser("analyse", help="domain effects, the paper's figures and the dashboard from a metrics table")
    an.add_argument("--metrics", required=True,
                    help="a metrics_comparison_test.csv, or 'published' for the paper's table "
                         "(LEGIBILITY_PAPER_METRICS, else downloaded once and checked)")
    an.add_argument("--out", required=True, help="folder for domain_effects.csv, headline.csv, dashboard.html")
    an.add_argument("--cohort", default=None, help="a dataset whose participants give the association networks")
    an.add_argument("--figures", default=None, help="folder for the figures (default: --out)")
    an.set_defaults(func=_cmd_analyse)

    sc = sub.add_parser("scaling", help="deep model and linear peer against training size (nested subsets)")
    sc.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    sc.add_argument("--out", required=True, help="folder for scaling.csv, the models and the figure")
    sc.add_argument("--target", nargs="+", default=["age", "sex"], help="targets (default: age sex)")
    sc.add_argument("--inputs", nargs="+", default=["t1", "flair"], help="input keys (default: t1 flair)")
    sc.add_argument("--sizes", nargs="+", type=float, default=[250, 500, 1000, 2000, 4000],
                    help="training sizes, nested; <= 1: a fraction of the training set (default 250 ... 4000)")
    sc.add_argument("--seeds", type=int, default=2, help="seeds per size (default 2)")
    sc.add_argument("--samples", type=int, default=16_000,
                    help="training participants seen per deep model: epochs = samples / size (default 16000)")
    sc.add_argument("--max_epochs", type=int, default=40, help="most epochs per deep model (default 40)")
    sc.add_argument("--patience", type=int, default=10, help="early-stopping patience (default 10)")
    sc.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    sc.add_argument("--device", default="cpu")
    sc.add_argument("--torch_threads", type=int, default=None, help="torch threads (default: torch's)")
    sc.add_argument("--no-figure", dest="figure", action="store_false", help="do not draw scaling.png")
    sc.set_defaults(func=_cmd_scaling)

    pp = sub.add_parser("paper", help="run the notebooks in order with papermill (the main job)")
    pp.add_argument("--inpath", default="", help="your dataset (default: a synthetic cohort)")
    pp.add_argument("--n", type=int, default=700, help="synthetic cohort size (default 700)")
    pp.add_argument("--epochs", type=int, default=12, help="most epochs per model (default 12)")
    pp.add_argument("--patience", type=int, default=6, help="early-stopping patience (default 6)")
    pp.add_argument("--grid", default="quick", help="quick (default), paper, or a CSV of Target, Inputs")
    pp.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    pp.add_argument("--executor", default="local", choices=("local", "ray"))
    pp.add_argument("--ceiling_n", type=int, default=5000,
                    help="sample size of the synthetic ground-truth ceilings (default 5000)")
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
