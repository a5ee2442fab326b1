"""Benchmark suites: a network against the known truth, on a cohort anyone can regenerate.

A suite fixes everything but the network: the generator version, the world, the seed and size of
the synthetic cohort, and the (target, input set) cells trained on it. Two people who run suite
``v1`` on different machines train on bit-identical cohorts (checked with
:func:`cohort_fingerprint`), so their numbers can be compared. Each cell's network is trained by
the sweep (resumable, locally or on Ray) under every rule of the engine, beside its linear peer;
its test score is then set between what the cohort knows: the linear peer below (what a ridge
or logistic regression on the same inputs reaches) and the ceiling above (what the inputs carry
at all), with the linear asymptote (what a ridge on the voxels' 200 leading components reaches
with unlimited data) as a reference between them. The share of the gap closed,
``(network - linear peer) / (ceiling - linear peer)``, is 0 for a network that reads no more than
a linear model and 1 for one that reads all the images carry.

Outputs of :func:`run_benchmark`, in its ``out`` folder:

``benchmark.csv``
    One row per cell: the network's test score and 95% CI, the linear peer's, the ceiling and its
    SE, the linear asymptote, the share of the gap closed, the validation scores.
``benchmark.json``
    The suite, the cohort's fingerprint and whether it matches the suite's, the settings, the versions.
``report.md``, ``benchmark.png``
    One page: the table and a figure of each cell's scores between its bounds.
``models/``
    The sweep's model folders and tables.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from legibility import __version__, paths
from legibility.cohort.anatomy import V1_ANATOMY
from legibility.errors import LegibilityError, UnknownNameError
from legibility.study import parse_inputs_label
from legibility.study import target as get_target

__all__ = ["SUITES", "Suite", "benchmark_table", "cohort_fingerprint", "default_cohort", "fingerprint_parts",
           "prepare_cohort", "run_benchmark", "suite"]


@dataclass(frozen=True)
class Suite:
    """A fixed benchmark: the cohort (generated from these fields) and the cells trained on it."""

    name: str
    generator: str  # the generator (package) version the cohort is generated with
    world: str  # "linear" or "anatomical"
    shape_share: float | None
    anatomy_mm: float | None  # the anatomical world's individual anatomy, mm (None: linear world)
    diffeomorphic: bool | None  # whether that anatomy is a diffeomorphism (None: linear world)
    seed: int
    n: int  # participants: 80% train, the rest halved into validation and test
    side: int
    ceiling_n: int
    asymptote_n: int
    cells: tuple[tuple[str, str], ...]  # (target key, inputs as the published table writes them)
    fingerprint: str | None  # the cohort's fingerprint where the suite was defined; None: not recorded
    about: str

    def cohort_settings(self) -> dict:
        """The cohort.json fields a cohort of this suite must have."""
        return {"version": self.generator, "world": self.world, "shape_share": self.shape_share,
                "anatomy_mm": self.anatomy_mm, "diffeomorphic": self.diffeomorphic,
                "seed": self.seed, "n": self.n, "side": self.side, "ceiling_n": self.ceiling_n,
                "asymptote_n": self.asymptote_n}


# Suites v1 and v2: the anatomical world (part of each imprint carried by shape, so a network that
# follows a moving boundary can read more than a linear model), v1 with a 3 mm individual anatomy,
# v2 with the calibrated 8 mm; 4,000 training, 500 validation and 500 test participants at 32^3;
# eight cells over the four domains and the four imaging inputs.
V1_CELLS = (
    ("age", "FLAIR + T1"),
    ("sex", "FLAIR + T1"),
    ("weight", "FLAIR + T1"),
    ("age", "DWI"),
    ("sex", "rsfMRI Connectivity"),
    ("hypertension", "DWI + FLAIR + T1"),
    ("hba1c", "rsfMRI Connectivity + Non-imaging data (C)"),
    ("worry", "FLAIR + T1"),
)
SUITES = {
    "v1": Suite(name="v1", generator="0.2.0", world="anatomical", shape_share=1.0, **V1_ANATOMY, seed=2604,
                n=5000, side=32, ceiling_n=20_000, asymptote_n=6000, cells=V1_CELLS,
                fingerprint="39ad199a4c02b96f40a0d54e124c4b870e1e57b7ca66b42ef85ea5da896deda6",
                about="anatomical world, shape share 1; 4,000 training, 500 validation, 500 test participants "
                      "at 32^3; eight cells over four domains and four imaging inputs"),
    "v2": Suite(name="v2", generator="0.2.0", world="anatomical", shape_share=1.0, anatomy_mm=8.0, diffeomorphic=True,
                seed=3112, n=5000, side=32, ceiling_n=20_000, asymptote_n=6000, cells=V1_CELLS,
                fingerprint="6782bae1842410662264fa9ec2ec2966b2a1ed4103ae86fe503b592a2c901bfe",
                about="the calibrated anatomical world (shape share 1, individual anatomy 8 mm, diffeomorphic); "
                      "4,000 training, 500 validation, 500 test participants at 32^3; v1's eight cells"),
    "tiny": Suite(name="tiny", generator="0.2.0", world="anatomical", shape_share=1.0, **V1_ANATOMY, seed=7,
                  n=100, side=32, ceiling_n=2000, asymptote_n=200,
                  cells=(("age", "FLAIR + T1"), ("sex", "rsfMRI Connectivity")),
                  fingerprint="66a70f6ad4b2a81e883533bdc97405040ad522ece82794fc26007655ceb5bf54",
                  about="a first try in minutes and the tests: 80 training, 10 validation, 10 test participants; "
                        "its scores mean nothing"),
}


def default_cohort(name: str) -> Path:
    """Where suite ``name``'s cohort lives unless told: one folder shared by every run of the suite."""
    return Path("results") / "benchmark" / f"cohort_{name}"


def suite(name: str) -> Suite:
    """The suite called ``name``, or an error that lists the suites."""
    if name not in SUITES:
        raise UnknownNameError(f"Unknown suite '{name}'; suites: {', '.join(SUITES)}.")
    return SUITES[name]


def _cohort_files(root: Path) -> list[Path]:
    skip = {paths.COHORT_INFO, paths.GROUND_TRUTH}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in skip
                  and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts))


def _kind(rel: Path) -> str:
    """The part of a cohort a file belongs to: its modality folder for a volume, else its name."""
    return rel.parent.name if rel.name.endswith((".nii", ".nii.gz")) else rel.name


def fingerprint_parts(path) -> dict[str, str]:
    """SHA-256 of each part of a cohort (each modality's volumes of each split, the connectivity
    and metadata files, the latents), and of the whole under ``"cohort"``; see
    :func:`cohort_fingerprint`. Two cohorts that differ are told apart part by part."""
    root = Path(path)
    files = _cohort_files(root)
    if not files:
        raise LegibilityError(f"{root} holds no cohort files to fingerprint; is it a cohort folder?")
    whole, parts = hashlib.sha256(), {}
    for p in files:
        rel = p.relative_to(root)
        data = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        entry = rel.as_posix().encode() + b"\0" + hashlib.sha256(data).digest()
        whole.update(entry)
        key = f"{rel.parts[0]}/{_kind(rel)}" if len(rel.parts) > 1 else _kind(rel)
        parts.setdefault(key, hashlib.sha256()).update(entry)
    return {"cohort": whole.hexdigest(), **{k: h.hexdigest() for k, h in sorted(parts.items())}}


def cohort_fingerprint(path) -> str:
    """SHA-256 over every participant file of a cohort: its relative path and its content
    (decompressed for ``.gz``, so the compressor's settings do not count). Left out:
    ``cohort.json`` (it records the seconds generation took), ``ground_truth.csv`` (ceilings
    computed with floating-point reductions whose last digits may differ between machines; the
    benchmark reports the values it used), and the cache and hidden files."""
    return fingerprint_parts(path)["cohort"]


def _cohort_differences(info: dict, s: Suite) -> list[str]:
    want = s.cohort_settings()
    # Anatomical cohorts written before the individual anatomy was a setting had v1's.
    before = V1_ANATOMY if info.get("world") == "anatomical" else {"anatomy_mm": None, "diffeomorphic": None}
    info = {**before, **info}
    return [f"{k} {info.get(k)!r} (suite {s.name}: {v!r})" for k, v in want.items() if info.get(k) != v]


def prepare_cohort(s: Suite, data, progress: bool = True, workers: int | None = None) -> dict:
    """Generate suite ``s``'s cohort at ``data`` (or check the one there); return its fingerprint,
    its parts' (:func:`fingerprint_parts`) and whether it matches the suite's recorded one (None
    where none is recorded). ``workers``: generation processes (the cohort is the same for any)."""
    from legibility.cohort.writer import generate_cohort

    data = Path(data)
    if __version__ != s.generator:
        raise LegibilityError(f"Suite {s.name} is defined on generator version {s.generator}; this is "
                              f"legibility {__version__}, whose cohort would differ. Install legibility "
                              f"{s.generator} to run suite {s.name}, or choose a suite of this version.")
    info_path = data / paths.COHORT_INFO
    if not info_path.exists():
        settings = {k: v for k, v in s.cohort_settings().items() if k != "version"}
        generate_cohort(data, progress=progress, workers=workers, format="paper", **settings)
    differences = _cohort_differences(json.loads(info_path.read_text()), s)
    if differences:
        raise LegibilityError(f"The cohort at {data} is not suite {s.name}'s: {'; '.join(differences)}. "
                              f"Give an empty folder with --data and it is generated.")
    parts = fingerprint_parts(data)
    fingerprint = parts.pop("cohort")
    return {"fingerprint": fingerprint, "fingerprint_parts": parts,
            "matches_suite": None if s.fingerprint is None else fingerprint == s.fingerprint}


def _cells_file(s: Suite, out: Path) -> Path:
    path = out / "cells.csv"
    rows = [{"Target": get_target(t).display, "Inputs": parse_inputs_label(label).label} for t, label in s.cells]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def benchmark_table(metrics_all: pd.DataFrame, s: Suite, data) -> pd.DataFrame:
    """One row per cell of ``s`` from a sweep's ``metrics_all.csv``: the network's and the
    linear peer's test and validation scores, the cell's ceiling and linear asymptote, and the
    share of the gap between the peer and the ceiling that the network closes."""
    from legibility.evaluation import ceiling, linear_asymptote

    def value(row, column):
        return np.nan if row is None else float(row[column])

    rows = []
    for key, label in s.cells:
        tgt, inputs = get_target(key), parse_inputs_label(label)
        mine = metrics_all[(metrics_all.Target == tgt.display) & (metrics_all.Inputs == inputs.label)]
        by_mode = {m: r for m, r in mine.set_index("Mode").iterrows()}
        test, val = by_mode.get("Test"), by_mode.get("Validation")
        top, top_se = ceiling(data, tgt.display, inputs.label, tgt.metric)
        score, peer = value(test, tgt.metric), value(test, tgt.peer_column)
        rows.append({"target": key, "inputs": inputs.label, "metric": tgt.metric, "network": score,
                     "ci_low": value(test, "ci_low"), "ci_high": value(test, "ci_high"),
                     "linear_peer": peer, "ceiling": top, "ceiling_se": top_se,
                     "linear_asymptote": linear_asymptote(data, tgt.display, inputs.label),
                     "gap_closed": (score - peer) / (top - peer) if top > peer else np.nan,
                     "val_network": value(val, tgt.metric), "val_linear_peer": value(val, tgt.peer_column),
                     "n_train": np.nan if test is None else int(test["n_train"]),
                     "n_test": np.nan if test is None else int(test["n"])})
    return pd.DataFrame(rows)


def run_benchmark(suite_name: str, out, data=None, config=None, executor: str = "local",
                  address: str | None = None, progress: bool = True, overwrite: bool = False) -> pd.DataFrame:
    """Run suite ``suite_name``: generate (or check) its cohort at ``data`` (default
    :func:`default_cohort`), train each cell with the sweep's ``config`` (a
    :class:`~legibility.sweep.SweepConfig`: the network, the preset, epochs...) into
    ``out/models``, and write ``benchmark.csv``, ``benchmark.json``, ``report.md`` and
    ``benchmark.png`` to ``out``. Run again, it resumes: finished models are read back."""
    from legibility.figures import save_figure
    from legibility.figures.benchmark import plot_benchmark
    from legibility.sweep import SweepConfig, sweep

    s, out = suite(suite_name), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data) if data is not None else default_cohort(s.name)
    cohort = prepare_cohort(s, data, progress=progress)
    config = replace(config or SweepConfig(), side=s.side)
    sweep(data, out / "models", _cells_file(s, out), executor=executor, address=address, config=config,
          progress=progress, overwrite=overwrite)
    table = benchmark_table(pd.read_csv(out / "models" / "metrics_all.csv"), s, data)
    table.to_csv(out / "benchmark.csv", index=False)
    record = {"suite": asdict(s), "cohort": str(data), **cohort,
              "network": config.network or f"fused model, {config.preset} preset",
              "settings": asdict(config), "legibility": __version__}
    (out / "benchmark.json").write_text(json.dumps(record, indent=1, default=str))
    save_figure(plot_benchmark(table, title=f"suite {s.name}: {record['network']}"), "benchmark", out, ("png",))
    (out / "report.md").write_text(report(table, record))
    return table


def _fmt(v, digits: int = 3) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def report(table: pd.DataFrame, record: dict) -> str:
    """The one-page report: what was run, on which cohort, and the table under the figure."""
    s = record["suite"]
    match = {True: "matches the suite's", False: "DIFFERS from the suite's recorded "
             f"{s['fingerprint']}: these numbers are not comparable with other runs of the suite",
             None: "the suite records none to compare with"}[record["matches_suite"]]
    lines = [f"# Benchmark suite {s['name']}: {record['network']}", "",
             f"Suite {s['name']} ({s['about']}): the {s['world']} world, seed {s['seed']}, {s['n']:,} participants "
             f"at {s['side']}^3, generator {s['generator']}. Cohort fingerprint `{record['fingerprint'][:16]}…` "
             f"({match}).", "",
             "Each cell's test score with its 95% bootstrap CI, beside its linear peer (same data, a ridge or "
             "class-balanced logistic regression), the linear asymptote (a ridge on the 200 leading components of "
             "the aligned voxels with unlimited data: a reference a ridge on all the voxels can pass) and the ceiling "
             "(what the inputs carry: no learner can pass it). Gap closed = (network − peer) / "
             "(ceiling − peer). R² for continuous targets, balanced accuracy for binary ones.", "",
             "![benchmark](benchmark.png)", "",
             "| target | inputs | metric | network (95% CI) | linear peer | linear asymptote | ceiling | gap closed "
             "| val network | val peer |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['target']} | {r['inputs']} | {r['metric']} | {_fmt(r['network'])} "
                     f"({_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}) | {_fmt(r['linear_peer'])} | "
                     f"{_fmt(r['linear_asymptote'])} | {_fmt(r['ceiling'])} | {_fmt(r['gap_closed'], 2)} | "
                     f"{_fmt(r['val_network'])} | {_fmt(r['val_linear_peer'])} |")
    mean = table["gap_closed"].mean()
    lines += ["", f"Mean share of the gap closed over the {len(table)} cells: {_fmt(mean, 2)}.", ""]
    return "\n".join(lines)
