"""The ``legibility`` command: each subcommand is a few lines calling the package.

One file of ~470 lines on purpose: the parser is the command's documentation (every flag with
its help and default), and a reader finds every subcommand and its flags in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import traceback
from dataclasses import MISSING
from pathlib import Path

from legibility import __version__
from legibility.claims import CLAIM_TIMEOUT
from legibility.errors import SettingError


def _cmd_grid(args) -> int:
    from legibility.study import grid_table

    table = grid_table()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {len(table)} models ({table['Target'].nunique()} targets) to {out}")
    return 0


def _cohort_side(text: str) -> int:
    """A cohort's side: a multiple of 8 from 16 to 256 (the cache resizes it to the training side)."""
    side = int(text)
    if side < 16 or side > 256 or side % 8:
        raise argparse.ArgumentTypeError(
            f"{side} is not a cohort side: use a multiple of 8 from 16 to 256; 32, 64 or 128 trains at the "
            f"volumes' own resolution (`train --side` takes those three and resizes any other)")
    return side


def _cmd_cohort(args) -> int:
    from legibility.cohort.writer import generate_cohort

    info = generate_cohort(args.out, n=args.n, side=args.side, seed=args.seed,
                           regions=args.regions, nodes=args.nodes, workers=args.workers,
                           ceiling_n=args.ceiling_n, format=args.format, world=args.world,
                           shape_share=args.shape_share, asymptote_n=args.asymptote_n,
                           anatomy_mm=args.anatomy_mm, diffeomorphic=False if args.plain_anatomy else None)
    print(f"wrote {info['n']} participants ({info['n_train']} TRAIN, {info['n_test']} TEST) "
          f"at {info['side']}^3 to {args.out} in {info['seconds']:.1f} s"
          + (" as BIDS" if args.format == "bids" else "")
          + (f" (anatomical world, shape share {info['shape_share']:g}, "
             f"individual anatomy {info['anatomy_mm']:g} mm)" if info["world"] == "anatomical" else ""))
    return 0


def _cmd_ukb(args) -> int:
    from legibility.data import ukb

    if args.fields_table:
        print(ukb.fields_table())
        return 0
    if not (args.fields and args.imaging and args.out):
        raise SettingError("--fields, --imaging and --out are required (or --fields_table).")
    info = ukb.convert_ukb(args.fields, args.imaging, args.out, format=args.format, connectivity=args.connectivity,
                           instance=args.instance, drop_implausible=args.drop_implausible, seed=args.seed)
    found = ", ".join(f"{k} {v}" for k, v in info["found"].items())
    print(f"wrote {info['kept']} participants to {args.out} ({info['format']} layout; found {found}); "
          f"{info['excluded']} left out (see excluded.csv), {info['no_images']} extract rows without imaging")
    return 0


def _cmd_env(args) -> int:
    from legibility.environment import describe_environment, format_environment

    if args.inpath and not Path(args.inpath).exists():
        raise SettingError(f"--inpath {args.inpath} does not exist (resolved against {Path.cwd()}): point it at "
                         f"a dataset folder or manifest CSV, or leave it out.")
    print(format_environment(describe_environment(args.inpath)))
    return 0


def _cmd_check(args) -> int:
    from legibility.data.cache import verify_sources
    from legibility.data.layout import load_dataset
    from legibility.data.problems import Problem, format_problems, gathering
    from legibility.errors import DataError

    ds, verdict = None, {}
    with gathering() as errors:
        try:  # what stops the reading (no participants table, an unreadable one) is one error
            ds = load_dataset(args.inpath, strict=args.strict, require_split=not args.predict)
            verdict = verify_sources(ds)
        except DataError as err:
            errors.append(Problem(str(args.inpath), "", str(err)))
    if ds is not None:
        print(ds.report(notes=False))
    if verdict and not errors:
        print(f"  files: {verdict['volumes']} volumes and {verdict['matrices']} connectivity matrices decode "
              f"cleanly" + (" (verdict kept from an earlier check of the same files)" if verdict["reused"] else ""))
    warns = [Problem("", "", n) for n in (ds.notes if ds is not None else [])]
    for line in format_problems("errors", errors) + format_problems("warnings", warns):
        print(line)
    if errors:
        print(f"legibility check: {len(errors)} error(s) in {args.inpath}: fix them and check again "
              f"(listed above, with {len(warns)} warning(s))", file=sys.stderr)
    return 1 if errors else 0


HELLO = """legibility train: train one model of the paper's grid -- one target from one set of inputs.

It reads a dataset (the paper's TRAIN/TEST layout, a manifest CSV or a BIDS dataset), builds or
reuses the cache at --side, trains the fused network with the paper's rules (early stopping on
validation loss, best model kept, a checkpoint every epoch) and the preset's recipe, and writes
to OUTPATH/<model name>/: metrics.csv (validation and test, published schema, original units,
with a linear peer's scores), training_progress.csv, curves, a confusion matrix or a scatter,
and best_model.pt.

{recipe}.
At most {epochs} epochs, patience {patience} (--epochs, --patience); models go to {models}.

Start with:
  legibility cohort --out data/synthetic --n 300 --side 32
  legibility train --inpath data/synthetic --target age --inputs t1 flair
  legibility train ... --target hb --inputs dwi metadata --metadata_blocks constitutional disease
Targets: {targets}
Inputs: t1 flair dwi connectivity metadata; blocks: constitutional disease serology psychology
"""


def recipe(preset: str) -> str:
    """The training recipe of ``preset`` in words, from ``TRAINING_DEFAULTS``."""
    from legibility.config import TRAINING_DEFAULTS

    r = TRAINING_DEFAULTS[preset]
    optimiser = f"AdamW (weight decay {r['weight_decay']:g})" if r["weight_decay"] else "Adam"
    schedule = (f"cosine schedule with {r['warmup_epochs']:g} epoch(s) of warm-up" if r["schedule"] == "cosine"
                else "a constant rate")
    ema = f", a moving average of the weights (decay {r['ema']:g})" if r["ema"] else ""
    augment = ", augmentation with p 0.05" if r["augment"] else ", no augmentation"
    return f"{optimiser} at lr {r['lr']:g}, batch {r['batch_size']}, {schedule}{ema}{augment}"


def _cmd_train(args) -> int:
    if args.hello_world:
        import textwrap

        from legibility.study import TARGETS

        print(HELLO.format(targets=", ".join(TARGETS), preset=args.preset,
                           recipe=textwrap.fill(f"The --preset {args.preset} recipe: {recipe(args.preset)}", 96),
                           epochs=args.epochs, patience=args.patience, models=args.outpath))
        return 0
    if not (args.target and args.inputs and args.inpath):
        raise SettingError("--target, --inputs and --inpath are required (see --hello_world).")
    from legibility.config import TrainConfig
    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.train import train_model

    cfg = TrainConfig(target=args.target, inputs=tuple(args.inputs), metadata_blocks=tuple(args.metadata_blocks or ()),
                      diagnostic=args.diagnostic, augment=args.augment, tensorboard=args.tensorboard,
                      **_training_settings(args))
    from legibility.study import resolve_inputs, target

    resolve_inputs(cfg.target, cfg.inputs, cfg.metadata_blocks)  # fail fast, before the cache
    cache = build_cache(load_dataset(args.inpath), args.side)
    row = train_model(cache, cfg, args.outpath, restore=args.restore, overwrite=args.overwrite)
    print(f"participants: {row['n_train']} train, {row['n_val']} val, {row['n_test']} test (left out for lacking "
          f"the target or an input: {row['n_left_out_train']}, {row['n_left_out_val']}, {row['n_left_out_test']})")
    tgt = target(row["Target"])
    print(f"{row['Target']} from {row['Inputs']}: test {tgt.metric} {row[tgt.metric]:.3f} "
          f"(95% CI [{row['ci_low']:.3f}, {row['ci_high']:.3f}]); linear peer {row[tgt.peer_column]:.3f}")
    return 0


def _cmd_predict(args) -> int:
    from pathlib import Path

    import pandas as pd

    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset
    from legibility.errors import DataError
    from legibility.predict import compare_with_training, conform_volumes, load_predictor, predict, prediction_scores

    _, state = load_predictor(args.model)
    ds = load_dataset(args.inpath, require_split=False)
    notes = conform_volumes(ds, state, (ds.root.parent if ds.root.is_file() else ds.root) / "_cache" / "resampled")
    cache = build_cache(ds, state["model_config"]["side"])
    more, refused = compare_with_training(ds, cache, state)
    notes += more
    for line in notes + (refused if args.force else []):
        print(f"note: {line}")
    if refused and not args.force:
        raise DataError(f"The data at {args.inpath} differ from the training data of the model in {args.model}:\n  "
                        + "\n  ".join(refused) + "\nFix them, or predict anyway with --force.")
    table = predict(args.model, cache)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    lacking = int((table["lacking"] != "").sum())
    seen = int((table["model_split"] != "").sum())
    print(f"wrote {len(table)} rows to {args.out}: {len(table) - lacking} predictions"
          + (f", {lacking} participant(s) lacking an input (see its 'lacking' column)" if lacking else ""))
    if seen:
        print(f"{seen} participant(s) were in the model's training or validation split (its 'model_split' column): "
              + ("scored with the others (--score_training)" if args.score_training
                 else "left out of the scores (--score_training keeps them)"))
    scores = prediction_scores(table, args.model, include_training=args.score_training)
    if scores:
        scores_path = Path(args.out).with_name(Path(args.out).stem + "_scores.csv")
        pd.DataFrame([scores]).to_csv(scores_path, index=False)
        shown = ", ".join(f"{k} {scores[k]:.3f}" for k in ("Balanced accuracy", "AUC", "r2", "MAE")
                          if scores.get(k))
        print(f"scores on the {scores['n']} participants with a known target: {shown} ({scores_path})")
    return 0


def _cmd_sweep(args) -> int:
    from pathlib import Path

    import pandas as pd

    from legibility.sweep import sweep

    cfg = _sweep_config(args)
    sweep(args.inpath, args.outpath, args.grid, executor=args.executor, address=args.address, config=cfg,
          overwrite=args.overwrite)
    log = pd.read_csv(Path(args.outpath) / "sweep_log.csv")
    counts = log.status.value_counts()
    failed = int(counts.get("failed", 0))
    print(f"{len(log) - failed} of {len(log)} models finished ({counts.get('trained', 0)} trained, "
          f"{counts.get('skipped', 0)} read back); metrics in {Path(args.outpath) / 'metrics_comparison_test.csv'}")
    if failed:
        print(f"{failed} failed (see {Path(args.outpath) / 'failures.csv'}); finished models are read back, so "
              f"this finishes the rest: {_command(args.argv)}")
    return 1 if failed else 0


def _cmd_benchmark(args) -> int:
    from pathlib import Path

    from legibility.benchmark import run_benchmark

    out = Path(args.out or f"results/benchmark/{args.suite}")
    table = run_benchmark(args.suite, out, data=args.data, config=_sweep_config(args), executor=args.executor,
                          address=args.address, overwrite=args.overwrite)
    done = int(table["network"].notna().sum())
    print(f"{done} of {len(table)} cells scored; mean share of the gap closed "
          f"{table['gap_closed'].mean():.2f}: {out / 'report.md'} ({out / 'benchmark.csv'})")
    if done < len(table):
        print(f"cells without a score failed (see {out / 'models' / 'failures.csv'}); finished cells are read back, "
              f"so this finishes the rest: {_command(args.argv)}")
    return 0 if done == len(table) else 1


def _cmd_analyse(args) -> int:
    from legibility.report import analyse

    result = analyse(args.metrics, args.out, cohort=args.cohort, figures_dir=args.figures)
    effects = result["effects"]
    shown = effects[effects.term != "Intercept"][["domain", "outcome", "term", "coef", "p", "status"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("\nwrote:", *[str(p) for v in result["paths"].values() for p in (v if isinstance(v, list) else [v])],
          sep="\n  ")
    return 0


def _cmd_truth(args) -> int:
    from legibility.truth import run_truth

    result = run_truth(args.inpath, args.out, sweep_metrics=args.sweep, published=args.published or None,
                       side=args.side, cache_root=args.cache_root, progress=True)
    print(f"{len(result['tables'].get('linear peer', []))} linear peers in {result['peer_seconds']:.1f} s")
    for source, note in result["notes"].items():
        print(f"{source}: {note}")
    print(result["by_term"].to_string(index=False))
    print("\nwrote:", *[str(p) for v in result["paths"].values() for p in (v if isinstance(v, list) else [v])],
          sep="\n  ")
    return 0


def _cmd_scaling(args) -> int:
    from legibility.scaling import ScalingConfig, scaling_study

    cfg = ScalingConfig(targets=tuple(args.target), inputs=tuple(args.inputs), sizes=tuple(args.sizes),
                        seeds=args.seeds, samples=args.samples, max_epochs=args.max_epochs, patience=args.patience,
                        preset=args.preset, device=args.device, torch_threads=args.torch_threads, progress=True,
                        network=args.network, network_args=args.network_args)
    table = scaling_study(args.inpath, args.out, cfg)
    if args.figure:
        from legibility.figures import save_figure
        from legibility.figures.scaling import plot_scaling

        save_figure(plot_scaling(table), "scaling", args.out, formats=("png",))
    print(f"{len(table)} rows in {Path(args.out) / 'scaling.csv'}")
    return 0


def _cmd_paper(args) -> int:
    from legibility import defaults, paths
    from legibility.pipeline import run_paper, summary

    params = {**defaults.SCALING, "scaling_max_epochs": args.epochs,
              "n_participants": args.n, "side": args.side, "seed": args.seed, "epochs": args.epochs,
              "patience": args.patience, "grid": args.grid, "preset": args.preset, "executor": args.executor,
              "ceiling_n": args.ceiling_n, "figures_dir": str(paths.FIGURES),
              # notebook 02's worked example is the sweep's own age model: trained once, reused
              "outpath": defaults.MODELS, "sweep_dir": defaults.MODELS, "target": defaults.TARGET,
              "inputs": defaults.INPUTS}
    if args.inpath:
        data = Path(args.inpath).resolve()  # the notebooks run in the repository: resolved here, against the cwd
        if not data.exists():
            raise SettingError(f"--inpath {args.inpath} does not exist (resolved against {Path.cwd()} to {data}).")
        params["data_path"] = str(data)
    run_paper(params)
    print(summary(params))
    if args.book:
        _cmd_book(args)
    return 0


def _cmd_book(args) -> int:
    from legibility.book import build_book

    print(f"the book: {build_book()} (open it in a browser; it reads offline)")
    return 0



# Flags of the training settings shared by `train`, `sweep` and `paper`: spelt once, with the
# defaults of legibility.config.TrainSettings unless a command says otherwise.
_TRAINING_FLAGS = {
    "preset": dict(choices=("cpu", "paper"), help="network widths and training recipe"),
    "side": dict(type=int, choices=(32, 64, 128), help="working side of the volumes"),
    "epochs": dict(type=int, help="most epochs per model (early stopping may end sooner)"),
    "patience": dict(type=int, help="epochs without a better validation loss before stopping"),
    "lr": dict(type=float, help="peak learning rate; None: the preset's ({lr})"),
    "batch_size": dict(type=int, help="None: the preset's ({batch_size})"),
    "grad_clip": dict(type=float, help="> 0: clip the gradient's norm to this each step; 0: off; "
                                       "None: the preset's ({grad_clip})"),
    "seed": dict(type=int, help="random seed"),
    "device": dict(help="cpu or cuda[:N] (bf16 autocast on CUDA)"),
    "num_workers": dict(type=int, help="threads assembling batches ahead"),
    "data_size": dict(type=int, help="only the first N participants per split"),
    "network": dict(aliases=("--model",), metavar="MODULE:NAME",
                    help="your own network instead of the fused model: a torch module class or factory, "
                         "module:Name or path/to/file.py:Name, called with a legibility.user_network.NetworkSpec "
                         "(docs/training.md, 'Your own network')"),
    "network_args": dict(type=lambda text: _json_object(text, "--network_args"), metavar="JSON",
                         help='keyword arguments of --network, as a JSON object: \'{{"width": 32}}\''),
}


def _json_object(text: str, flag: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{flag} is not JSON ({err.msg}): {text!r}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{flag} must be a JSON object such as '{{\"width\": 32}}'; got {text!r}")
    return value


def _add_training_flags(parser, names=tuple(_TRAINING_FLAGS), **defaults):
    """Add the shared training flags ``names`` to ``parser`` (``defaults`` overrides TrainSettings')."""
    from legibility.config import TRAINING_DEFAULTS, TrainSettings

    fields = TrainSettings.__dataclass_fields__
    by_preset = {k: ", ".join(f"{p} {v[k]:g}" for p, v in TRAINING_DEFAULTS.items())
                 for k in ("lr", "batch_size", "grad_clip")}
    for name in names:
        spec = dict(_TRAINING_FLAGS[name])
        spec["help"] = spec["help"].format(**by_preset)
        aliases = spec.pop("aliases", ())
        default = defaults.get(name, fields[name].default)
        if default is MISSING:
            default = fields[name].default_factory()
        parser.add_argument(f"--{name}", *aliases, dest=name, default=default, **spec)


def _add_sweep_flags(parser, side: bool = True):
    """The flags of a sweep: where its models run, the training settings, Ray's resources."""
    parser.add_argument("--executor", default="local", choices=("local", "ray"), help="where the models run")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join ('auto' or host:port); default: a local Ray")
    _add_training_flags(parser, [n for n in _TRAINING_FLAGS if side or n != "side"])
    parser.add_argument("--torch_threads", type=int, default=None, help="torch threads per model")
    parser.add_argument("--cpus_per_model", type=float, default=1.0, help="Ray CPUs per model")
    parser.add_argument("--gpus_per_model", type=float, default=0.0, help="Ray GPUs per model")
    parser.add_argument("--max_retries", type=int, default=3,
                        help="Ray: times a model is retried (from its checkpoint) when its worker process dies")
    parser.add_argument("--claim_timeout", type=float, default=CLAIM_TIMEOUT,
                        help="seconds without a heartbeat after which another worker's claim on a model is taken over")
    parser.add_argument("--overwrite", action="store_true",
                        help="retrain finished models whose recorded settings differ from these")


def _sweep_config(args):
    """The SweepConfig of the sweep flags (:func:`_add_sweep_flags`)."""
    from legibility.sweep import SweepConfig

    return SweepConfig(torch_threads=args.torch_threads, cpus_per_model=args.cpus_per_model,
                       gpus_per_model=args.gpus_per_model, max_retries=args.max_retries,
                       claim_timeout=args.claim_timeout, **_training_settings(args))


def _training_settings(args, names=tuple(_TRAINING_FLAGS)) -> dict:
    """The shared training flags' values, as TrainSettings fields."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}

class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to every option's help, unless the default is None or False or the
    help already says what the default is."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS \
                or "default:" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A parser (and subparser) showing the defaults; each takes ``--debug``, before or after the command."""

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kw)
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                          help="show the traceback of any error (also: LEGIBILITY_DEBUG=1)")


def build_parser() -> argparse.ArgumentParser:
    """The command's parser: every subcommand with its flags.

    Kept whole: the parser is the command's documentation (every flag with its help and
    default), and a reader finds every subcommand and its flags in one place.
    """
    from legibility import defaults

    p = _Parser(
        prog="legibility",
        description="Which characteristics can be read from brain imaging? "
                    "(Ruffle et al., NeuroImage 2024, made runnable.)",
    )
    p.add_argument("--version", action="version", version=f"legibility {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("grid", help="write the paper's 700-model grid as CSV")
    g.add_argument("--out", required=True, help="CSV file to write")
    g.set_defaults(func=_cmd_grid)

    c = sub.add_parser("cohort", help="generate a synthetic cohort in the paper's layout")
    c.add_argument("--out", required=True, help="folder to write (must be empty or absent)")
    c.add_argument("--n", type=int, default=200, help="participants")
    c.add_argument("--side", type=_cohort_side, default=64,
                   help="voxels per side: a multiple of 8 from 16 to 256 (training takes 32, 64 or 128)")
    c.add_argument("--seed", type=int, default=0, help="random seed")
    c.add_argument("--regions", type=int, default=96, help="brain regions carrying the many small effects (>= 25)")
    c.add_argument("--nodes", type=int, default=100, help="connectivity nodes (the paper used 360)")
    c.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    c.add_argument("--ceiling_n", dest="ceiling_n", type=int, default=20_000,
                   help="sample size for the ground-truth ceilings")
    c.add_argument("--format", default="paper", choices=("paper", "bids"),
                   help="the paper's TRAIN/TEST layout or a BIDS dataset")
    c.add_argument("--world", default="linear", choices=("linear", "anatomical"),
                   help="linear: every imprint is an intensity change in a fixed template region; "
                        "anatomical: individual anatomy and misregistration (nuisance), and part of "
                        "each imprint carried by shape (same information, same ground truth)")
    c.add_argument("--shape_share", dest="shape_share", type=float, default=None,
                   help="anatomical world: the share (0-1) of each imprint carried by shape "
                        "(regional volume change, boundaries move) rather than by intensity in a "
                        "fixed region (default: legibility.cohort.anatomy.DEFAULT_SHAPE_SHARE)")
    c.add_argument("--anatomy_mm", dest="anatomy_mm", type=float, default=None,
                   help="anatomical world: the size (RMS per axis, mm) of each participant's own "
                        "anatomy, a smooth deformation of the template; larger hides more of the "
                        "shape imprint from learners on aligned voxels, the ceiling stays "
                        "(default: legibility.cohort.anatomy.ANATOMY_MM)")
    c.add_argument("--plain_anatomy", action="store_true",
                   help="anatomical world: the individual anatomy as a plain displacement field (benchmark "
                        "suite v1's world, with --anatomy_mm 3) rather than a diffeomorphism")
    c.add_argument("--asymptote_n", dest="asymptote_n", type=int, default=None,
                   help="image sample for the linear asymptotes written beside the ceilings "
                        "(what a linear learner on the voxels reaches with unlimited data); "
                        "0: none (default: 6000 in the anatomical world, 0 in the linear one)")
    c.set_defaults(func=_cmd_cohort)

    u = sub.add_parser("ukb", help="convert a UK Biobank showcase extract and bulk imaging into a dataset")
    u.add_argument("--fields", help="the extract CSV (eid, 31-0.0, 21003-2.0, ...)")
    u.add_argument("--imaging", help="folder of the bulk downloads (<eid>_20252_2_0.zip or its folder, ...)")
    u.add_argument("--out", help="folder to write (must be empty or absent)")
    u.add_argument("--format", default="paper", choices=("paper", "bids"), help="layout of the dataset written")
    u.add_argument("--connectivity", default="25751",
                   help="network-matrix field 25750-25753, a folder of <eid>.npy|.tsv, or none")
    u.add_argument("--instance", type=int, default=2, help="imaging visit of the bulk files")
    u.add_argument("--drop_implausible", dest="drop_implausible", action="store_true",
                   help="leave out participants with implausible values (listed in excluded.csv) instead of stopping")
    u.add_argument("--seed", type=int, default=None, help="seed of the 80:20 split (default 0)")
    u.add_argument("--fields_table", dest="fields_table", action="store_true",
                   help="print how each characteristic is derived from the showcase, and stop")
    u.set_defaults(func=_cmd_ukb)

    e = sub.add_parser("env", help="print what a run will use: torch, CUDA, GPUs, bf16, threads, caches")
    e.add_argument("--inpath", default=None, help="a dataset, to show where its cache goes")
    e.set_defaults(func=_cmd_env)

    k = sub.add_parser("check", help="validate a dataset and report counts per split")
    k.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    k.add_argument("--strict", action="store_true",
                   help="a participant missing a modality, or a volume on another grid, is an error, not a warning")
    k.add_argument("--predict", action="store_true", help="data to predict on: no split column needed")
    k.set_defaults(func=_cmd_check)
    t = sub.add_parser("train", help="train one model (one target, one input set)")
    t.add_argument("--target", help="required (unless --hello_world): target key or the paper's name "
                                   "(e.g. age, hb, 'Sex (Male)')")
    t.add_argument("--inputs", nargs="+", help="required (unless --hello_world): input keys: "
                                               "t1 flair dwi connectivity metadata")
    t.add_argument("--metadata_blocks", nargs="*", help="domains: constitutional disease serology psychology")
    t.add_argument("--inpath", help="required (unless --hello_world): dataset folder or manifest CSV")
    t.add_argument("--outpath", default=defaults.MODELS, help="where model folders go (the main job's)")
    _add_training_flags(t)
    t.add_argument("--restore", action="store_true", help="resume from the last checkpoint")
    t.add_argument("--overwrite", action="store_true", help="train afresh over a finished model")
    t.add_argument("--diagnostic", action="store_true", help="constant inputs: test the pipeline only")
    t.add_argument("--hello_world", action="store_true", help="say what this does and how to start")
    t.add_argument("--augment", action="store_true", default=None,
                   help="small augmentations with p = 0.05 (None: the preset's, paper on, cpu off)")
    t.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs")
    t.set_defaults(func=_cmd_train)

    pr = sub.add_parser("predict", help="apply a trained model to other participants")
    pr.add_argument("--model", required=True, help="a model folder holding best_model.pt")
    pr.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    pr.add_argument("--out", required=True, help="CSV of predictions to write")
    pr.add_argument("--force", action="store_true",
                    help="predict on data that differ from the training data in what no resize fixes "
                         "(orientation, field of view, intensity, metadata units)")
    pr.add_argument("--score_training", action="store_true",
                    help="score the participants the model was trained or validated on too")
    pr.set_defaults(func=_cmd_predict)

    sw = sub.add_parser("sweep", help="train a grid of models (locally or on Ray) and gather their metrics")
    sw.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    sw.add_argument("--outpath", required=True, help="folder of the model folders and gathered tables")
    sw.add_argument("--grid", default="quick", help="paper (700 models), quick (29) or a CSV with Target, Inputs")
    _add_sweep_flags(sw)
    sw.set_defaults(func=_cmd_sweep)

    bm = sub.add_parser("benchmark", help="a network on a fixed suite of cells, against its linear peer and the "
                                          "ceilings of a cohort anyone can regenerate (docs/benchmark.md)")
    bm.add_argument("--suite", default="v1",
                    help="the suite: v1, v2 (the calibrated anatomical world), or tiny for a first try "
                         "(legibility.benchmark.SUITES)")
    bm.add_argument("--out", default=None, help="folder of the results; default results/benchmark/<suite>")
    bm.add_argument("--data", default=None,
                    help="the suite's cohort, shared by every run of the suite: generated here when absent, checked "
                         "when present; default results/benchmark/cohort_<suite>")
    _add_sweep_flags(bm, side=False)  # the suite fixes the side
    bm.set_defaults(func=_cmd_benchmark)

    an = sub.add_parser("analyse", help="domain effects, the paper's figures and the dashboard from a metrics table")
    an.add_argument("--metrics", required=True,
                    help="a metrics_comparison_test.csv, or 'published' for the paper's table "
                         "(LEGIBILITY_PAPER_METRICS, else downloaded once and checked)")
    an.add_argument("--out", required=True, help="folder for domain_effects.csv, headline.csv, dashboard.html")
    an.add_argument("--cohort", default=None, help="a dataset whose participants give the association networks")
    an.add_argument("--figures", default=None, help="folder for the figures (default: --out)")
    an.set_defaults(func=_cmd_analyse)

    tr = sub.add_parser("truth", help="the paper's domain effects on the ceilings, the 700 linear peers, a deep "
                        "sweep and the published table")
    tr.add_argument("--inpath", required=True, help="a synthetic cohort (its ground_truth.csv gives the ceilings)")
    tr.add_argument("--out", required=True, help="folder for the tables and the figure")
    tr.add_argument("--sweep", default=None, help="a deep sweep's metrics_comparison_test.csv (default: none)")
    tr.add_argument("--published", default="published",
                    help="the paper's table: 'published' (LEGIBILITY_PAPER_METRICS, else downloaded once and "
                         "checked), a path, or '' to leave it out")
    tr.add_argument("--side", type=int, default=32, choices=(32, 64, 128), help="working side of the volumes")
    tr.add_argument("--cache_root", default=None, help="folder of the cohort's cache (default: beside the cohort)")
    tr.set_defaults(func=_cmd_truth)

    sc = sub.add_parser("scaling", help="deep model and linear peer against training size (nested subsets)")
    sc.add_argument("--inpath", required=True, help="dataset folder or manifest CSV")
    sc.add_argument("--out", required=True, help="folder for scaling.csv, the models and the figure")
    sc.add_argument("--target", nargs="+", default=["age", "sex"], help="targets")
    sc.add_argument("--inputs", nargs="+", default=["t1", "flair"], help="input keys")
    sc.add_argument("--sizes", nargs="+", type=float, default=[250, 500, 1000, 2000, 4000],
                    help="training sizes, nested; <= 1: a fraction of the training set")
    sc.add_argument("--seeds", type=int, default=2, help="seeds per size")
    sc.add_argument("--samples", type=int, default=16_000,
                    help="training participants seen per deep model: epochs = samples / size")
    sc.add_argument("--max_epochs", type=int, default=40, help="most epochs per deep model")
    sc.add_argument("--patience", type=int, default=10, help="early-stopping patience")
    sc.add_argument("--preset", default="cpu", choices=("cpu", "paper"), help="network widths and training defaults")
    _add_training_flags(sc, ("network", "network_args"))
    sc.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    sc.add_argument("--torch_threads", type=int, default=None, help="torch threads (None: torch's)")
    sc.add_argument("--no_figure", dest="figure", action="store_false", help="do not draw scaling.png")
    sc.set_defaults(func=_cmd_scaling)

    pp = sub.add_parser("paper", help="run the notebooks in order with papermill (the main job)")
    pp.add_argument("--inpath", default="", help="your dataset (default: a synthetic cohort)")
    pp.add_argument("--n", type=int, default=defaults.N_PARTICIPANTS, help="synthetic cohort size")
    _add_training_flags(pp, ("epochs", "patience", "preset", "side", "seed"))  # legibility/defaults.py
    pp.add_argument("--grid", default=defaults.GRID, help="quick, paper, or a CSV of Target, Inputs")
    pp.add_argument("--executor", default="local", choices=("local", "ray"), help="where the sweep's models run")
    pp.add_argument("--ceiling_n", type=int, default=defaults.CEILING_N,
                    help="sample size of the synthetic ground-truth ceilings")
    pp.add_argument("--book", action="store_true",
                    help="then build the book of the executed notebooks (results/book)")
    pp.set_defaults(func=_cmd_paper)

    bk = sub.add_parser("book", help="build the executed notebooks and docs/ into a static site, results/book/")
    bk.set_defaults(func=_cmd_book)
    for sp in (k, t, pr, sw, pp):
        _add_bids_flags(sp)
    return p


def _command(argv, add=()) -> str:
    """The command line that was run (``argv`` after the program name), plus ``add`` if absent."""
    return shlex.join(["legibility", *argv, *[a for a in add if a not in argv]])


def _interrupted(args) -> str:
    """One line for Ctrl-C: where the last checkpoint is, and the command that goes on from it."""
    if args.command == "train" and args.target and args.inputs:
        from legibility.study import model_name, resolve_inputs

        folder = Path(args.outpath) / model_name(*resolve_inputs(args.target, args.inputs, args.metadata_blocks or ()))
        last, progress = folder / "last.pt", folder / "training_progress.csv"
        if last.exists():
            import pandas as pd

            epoch = int(pd.read_csv(progress).epoch.iloc[-1]) if progress.exists() else "?"
            return (f"interrupted: the last checkpoint is {last} (epoch {epoch}); resume with: "
                    f"{_command(args.argv, ['--restore'])}")
        return f"interrupted before the first checkpoint; start again with: {_command(args.argv)}"
    if args.command == "sweep":
        return (f"interrupted: finished models and the checkpoints of the others are in {args.outpath}; "
                f"go on with: {_command(args.argv)}")
    return f"interrupted; run again with: {_command(args.argv)}"


def _add_bids_flags(parser):
    g = parser.add_argument_group("BIDS input (also LEGIBILITY_BIDS_SPACE, _SESSION, _RUN, _DWI_DESC)")
    g.add_argument("--bids_space", dest="bids_space", default=None,
                   help="space- of the images: a label, MNI152 (default: any MNI152 variant, else raw) or raw")
    g.add_argument("--bids_session", dest="bids_session", default=None,
                   help="session to take when a participant has several (default: the first)")
    g.add_argument("--bids_run", dest="bids_run", default=None, help="run to take (default: the lowest)")
    g.add_argument("--bids_dwi_desc", dest="bids_dwi_desc", default=None,
                   help="desc- of the diffusion scalar map (default FA)")


def _export_bids_flags(args) -> dict:
    """BIDS flags travel as environment variables, so they reach the sweep and the notebooks too.
    Returns the previous values, which :func:`main` puts back when the command ends."""
    before = {}
    for key in ("space", "session", "run", "dwi_desc"):
        value = getattr(args, f"bids_{key}", None)
        if value is not None:
            name = f"LEGIBILITY_BIDS_{key.upper()}"
            before[name] = os.environ.get(name)
            os.environ[name] = str(value)
    return before


def main(argv=None) -> int:
    """Run one command. The package's own errors are one line (exit 2); any other exception is one
    line that says how to see its traceback (exit 1), and with ``--debug`` or ``LEGIBILITY_DEBUG=1``
    every error shows its traceback."""
    from legibility.errors import LegibilityError, debugging

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    debug = debugging(getattr(args, "debug", False))
    before = _export_bids_flags(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return 130
    except LegibilityError as err:
        if debug:
            traceback.print_exc()
        print(f"legibility {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # not one of ours: a bug or the machine's problem, whose traceback is the evidence
        if debug:
            traceback.print_exc()
        print(f"legibility {args.command}: unexpected error: {type(err).__name__}: {err}", file=sys.stderr)
        if not debug:
            print(f"  this is not a message of legibility's own; to see where it came from, run again with "
                  f"--debug: {_command(argv, ['--debug'])} (or set LEGIBILITY_DEBUG=1)", file=sys.stderr)
        return 1
    finally:
        for name, value in before.items():  # a command's flags do not outlive it (tests call main)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
