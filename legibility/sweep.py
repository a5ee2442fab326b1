"""Run a grid of models over one shared cache, locally or on Ray, and gather their metrics.

A sweep is resumable: a model whose folder holds ``done.json`` is read back, not retrained; a
half-trained one resumes from its last checkpoint; a model that fails is recorded (its folder
gets ``error.txt``, the sweep's ``failures.csv`` a row) and the others go on. A finished model
trained with other settings than the sweep's (as its ``done.json`` records them) is never read
back: the sweep refuses, naming the differences, or with ``overwrite`` retrains it.

Several drivers may share one ``outpath``: a worker claims a model before training it
(:mod:`legibility.claims`); a driver leaves models claimed by another live worker, reads them
back once finished, and takes over a claim whose holder stopped. A damaged file of a finished
model is named and the model finished again from its checkpoint; a full disk stops the sweep
with one line (:class:`~legibility.files.DiskFullError`), and the same command goes on later.

Executors
---------
``local``
    One model after another in this process.
``ray``
    Each model is a Ray task asking for ``cpus_per_model`` CPUs (and ``gpus_per_model`` GPUs).
    A task whose worker process dies (killed, out of memory, a lost node) is retried up to
    ``max_retries`` times, the model resuming from its last checkpoint; only then is it recorded
    as failed. Errors raised by the training itself are recorded at once (a retry would repeat them).
    Without ``address`` a local Ray is started; with ``address="auto"`` (or ``host:port``) the
    sweep joins a running cluster, whose workers must see the same ``inpath`` and ``outpath``
    (a shared file system) and have this package installed.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from legibility.claims import CLAIM_TIMEOUT
from legibility.config import TrainConfig, TrainSettings
from legibility.errors import LegibilityError
from legibility.files import DamagedFileError, DiskFullError, atomic_write, disk_full_message, is_disk_full
from legibility.study import DOMAINS, METRIC_COLUMNS, InputSet, Target, grid, model_name, parse_inputs_label
from legibility.study import target as get_target

__all__ = ["QUICK_TARGETS", "SweepConfig", "load_grid", "quick_grid", "sweep"]

# The quick grid (29 models, 3 of them CNNs): the paper's contrast on a laptop.
# - constitutional: sex and age from structural imaging and from connectivity (imaging only);
# - two targets of each other domain from non-imaging data alone (the constitutional block; it
#   with each other allowed block), from connectivity with all allowed blocks (combined), and,
#   for worry, from structural imaging with all allowed blocks (psychology from the brain).
# Every domain has two targets, and the blocks vary apart from each other, so the
# mixed-effects analyses can be fitted on it.
QUICK_TARGETS = ("sex", "age", "hypertension", "smoking", "hba1c", "hb", "worry", "nervous")
_STRUCTURAL, _CONNECTIVITY = frozenset({"t1", "flair"}), frozenset({"connectivity"})


def quick_grid() -> list[tuple[Target, InputSet]]:
    """The documented subset of the paper's grid used by the main job (see above)."""
    out = []
    for key in QUICK_TARGETS:
        tgt = get_target(key)
        if tgt.domain == "constitutional":
            sets = [InputSet(_STRUCTURAL), InputSet(_CONNECTIVITY)]
        else:
            allowed = frozenset(d for d in DOMAINS if d != tgt.domain)
            others = sorted(allowed - {"constitutional"})
            sets = [InputSet(frozenset(), frozenset({"constitutional", *extra}))
                    for extra in ([], *[[o] for o in others])]
            sets.append(InputSet(_CONNECTIVITY, allowed))
            if key == "worry":
                sets.append(InputSet(_STRUCTURAL, allowed))
        out.extend((tgt, s) for s in sets)  # a subset of the paper's grid (tests/test_sweep.py checks it)
    return out


def load_grid(name) -> list[tuple[Target, InputSet]]:
    """``paper`` (700 models), ``quick`` (29) or a CSV with ``Target`` and ``Inputs`` columns
    spelled as in the published table (e.g. the output of ``legibility grid``)."""
    if name == "paper":
        return grid()
    if name == "quick":
        return quick_grid()
    path = Path(name)
    if not path.exists():
        raise LegibilityError(f"Grid '{name}' is neither 'paper', 'quick' nor an existing CSV file.")
    table = pd.read_csv(path)
    missing = {"Target", "Inputs"} - set(table.columns)
    if missing:
        raise LegibilityError(f"Grid file {path} lacks the column(s) {', '.join(sorted(missing))}; it needs "
                              f"'Target' and 'Inputs' as in the published table (see `legibility grid`).")
    out = []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        try:
            out.append((get_target(row.Target), _inputs_of(row.Target, row.Inputs)))
        except (KeyError, ValueError) as err:
            msg = err.args[0] if err.args else err
            raise LegibilityError(f"Grid file {path}, line {i}: {msg}") from err
    return out


def _inputs_of(target: str, text: str) -> InputSet:
    """A grid file's ``Inputs`` as the published table writes it (``FLAIR + T1``) or as input
    keys (``t1 flair``, ``connectivity metadata``: metadata then means every allowed block)."""
    from legibility.study import resolve_inputs

    words = str(text).replace("+", " ").replace(",", " ").lower().split()
    if words and all(w in ("t1", "flair", "dwi", "connectivity", "metadata") for w in words):
        return resolve_inputs(target, words)[1]
    return parse_inputs_label(str(text))


@dataclass(kw_only=True)
class SweepConfig(TrainSettings):
    """The training settings every model of a sweep shares (:class:`~legibility.config.TrainSettings`),
    and the sweep's own: threads and Ray resources per model, retries."""

    torch_threads: int | None = None  # threads per model; None: torch's default
    cpus_per_model: float = 1.0  # Ray resources of one task
    gpus_per_model: float = 0.0
    max_retries: int = 3  # Ray: retries of a model whose worker process died
    claim_timeout: float = CLAIM_TIMEOUT  # seconds without a heartbeat after which a model's claim is stale


def _train_config(tgt: Target, inputs: InputSet, cfg: dict):
    """The TrainConfig of one model of the sweep."""
    shared = {k: cfg[k] for k in TrainSettings.__dataclass_fields__ if k in cfg and k != "progress"}
    return TrainConfig(target=tgt.key, inputs=tuple(inputs.imaging), metadata_blocks=tuple(sorted(inputs.blocks)),
                       progress=False, **shared)


def _check_finished(jobs, cfg: dict, outpath: Path, overwrite: bool):
    """Refuse (or, with ``overwrite``, clear) finished models trained with other settings."""
    from legibility.train import settings_differences

    other, unknown = {}, []
    for tgt, inputs in jobs:
        folder = outpath / model_name(tgt, inputs)
        if (folder / "done.json").exists():
            try:
                diff = settings_differences(folder, _train_config(tgt, inputs, cfg))
            except DamagedFileError:
                continue  # named and finished again when the model's turn comes
            if diff:
                other[folder.name] = diff
            elif diff is None:
                unknown.append(folder.name)
    if unknown:
        print(f"{len(unknown)} finished model(s) in {outpath} do not record their settings (an earlier version "
              f"trained them) and are read back as they are: {', '.join(unknown[:5])}"
              f"{' ...' if len(unknown) > 5 else ''}", file=sys.stderr)
    if other and not overwrite:
        shown = "; ".join(f"{name}: {', '.join(diff)}" for name, diff in list(other.items())[:5])
        raise LegibilityError(f"{len(other)} finished model(s) in {outpath} were trained with other settings than "
                              f"this sweep's ({shown}{' ...' if len(other) > 5 else ''}). Use --overwrite to "
                              f"retrain them with these settings, or another --outpath.")
    for name in other:
        shutil.rmtree(outpath / name)


def _finished_metrics(folder: Path) -> list[dict] | None:
    """The metrics of a finished model whose ``done.json`` and ``metrics.csv`` read back whole; None
    otherwise (a damaged one is named when the model is finished again)."""
    from legibility.train import read_done

    try:
        return pd.read_csv(folder / "metrics.csv").to_dict("records") if read_done(folder) else None
    except (DamagedFileError, OSError, ValueError):
        return None


def _train_one(cache_path: str, target: str, inputs_label: str, cfg: dict, outpath: str,
               overwrite: bool = False, driver: str = "") -> dict:
    """Train (or read back) one model under its claim; never raises: failures come back as a record.

    Statuses: ``skipped`` (read back), ``trained``, ``failed``, ``claimed`` (another worker holds
    it: try again later) and ``disk full`` (nothing more can be written: the sweep stops)."""
    import torch

    from legibility.claims import claim_model
    from legibility.data.cache import Cache
    from legibility.train import train_model

    tgt, inputs = get_target(target), parse_inputs_label(inputs_label)
    name = model_name(tgt, inputs)
    folder = Path(outpath) / name
    record = {"model": name, "Target": tgt.display, "Inputs": inputs.label}
    finished = _finished_metrics(folder)
    if finished is not None:
        return {**record, "status": "skipped", "metrics": finished}
    t0 = time.perf_counter()
    try:
        claim, note = claim_model(outpath, name, driver, cfg.get("claim_timeout", CLAIM_TIMEOUT))
    except Exception as err:  # noqa: BLE001  a full disk, an unwritable folder
        return {**record, **_failure(err, folder, t0)}
    if claim is None:
        return {**record, "status": "claimed", "note": note}
    record["note"] = note
    try:
        finished = _finished_metrics(folder)  # finished by another worker just before the claim
        if finished is not None:
            return {**record, "status": "skipped", "metrics": finished}
        if cfg.get("torch_threads"):
            torch.set_num_threads(int(cfg["torch_threads"]))
        train_model(Cache.open(cache_path), _train_config(tgt, inputs, cfg), outpath, restore=True,
                    overwrite=overwrite)
        return {**record, "status": "trained", "seconds": time.perf_counter() - t0,
                "metrics": pd.read_csv(folder / "metrics.csv").to_dict("records")}
    except Exception as err:  # noqa: BLE001  recorded, and the sweep goes on
        return {**record, **_failure(err, folder, t0)}
    finally:
        claim.release()


def _failure(err: Exception, folder: Path, t0: float) -> dict:
    """The record of a model that raised ``err``: ``disk full`` (one line, the sweep stops) or
    ``failed`` (the traceback in its ``error.txt``)."""
    if is_disk_full(err):
        message = str(err) if isinstance(err, DiskFullError) else disk_full_message(getattr(err, "filename", None)
                                                                                      or folder)
        return {"status": "disk full", "error": message, "seconds": time.perf_counter() - t0}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "error.txt").write_text(traceback.format_exc())
    return {"status": "failed", "error": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - t0}


def _run_local(jobs, cache_path, cfg, outpath, overwrite, driver):
    for tgt, inputs in jobs:
        yield _train_one(cache_path, tgt.key, inputs.label, cfg, outpath, overwrite, driver)


@contextmanager
def _ray_session(address: str | None):
    """Ray, started here (and shut down after) unless it already runs; ``address`` joins a cluster."""
    try:
        import ray
    except ImportError as err:
        raise LegibilityError("--executor ray needs ray: `.venv/bin/pip install 'ray[default]'`.") from err
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _run_ray(jobs, cache_path, cfg, outpath, overwrite, driver):
    import ray

    # Ray retries a task whose worker process died (not one whose code raised: _train_one never
    # does); the retried model takes over its claim and resumes from its checkpoint.
    task = ray.remote(num_cpus=cfg["cpus_per_model"], num_gpus=cfg["gpus_per_model"],
                      max_retries=cfg["max_retries"], retry_exceptions=False)(_train_one)
    jobs_of = {task.remote(cache_path, t.key, s.label, cfg, outpath, overwrite, driver): (t, s) for t, s in jobs}
    pending = list(jobs_of)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            yield ray.get(done[0])
        except ray.exceptions.RayError as err:  # the worker died more often than max_retries
            tgt, inputs = jobs_of[done[0]]
            folder = Path(outpath) / model_name(tgt, inputs)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "error.txt").write_text(f"{type(err).__name__}: {err}\n")
            first = (str(err).strip().splitlines() or [""])[0]
            yield {"model": folder.name, "Target": tgt.display, "Inputs": inputs.label, "status": "failed",
                   "error": f"{type(err).__name__} after {cfg['max_retries']} retries: {first}"}


def sweep(inpath, outpath, grid_name="quick", executor: str = "local", address: str | None = None,
          config: SweepConfig | None = None, progress: bool = True, overwrite: bool = False) -> pd.DataFrame:
    """Train every model of a grid over one cache; return the gathered test metrics.

    Writes ``outpath/<model>/...`` per model, and in ``outpath``: ``metrics_comparison_test.csv``
    (published schema plus the extra columns, test rows), ``metrics_all.csv`` (validation and
    test rows), ``sweep_log.csv`` (status and seconds of every model of this run) and
    ``failures.csv`` (model and error; empty when all went well). Finished models trained with
    other settings are refused before anything runs, unless ``overwrite`` (then retrained).
    """
    from tqdm.auto import tqdm

    from legibility.data.cache import build_cache
    from legibility.data.layout import load_dataset

    if executor not in ("local", "ray"):
        raise LegibilityError(f"Unknown executor '{executor}'; use 'local' or 'ray'.")
    cfg = asdict(config or SweepConfig())
    jobs = load_grid(grid_name)
    outpath = Path(outpath)
    outpath.mkdir(parents=True, exist_ok=True)
    _check_finished(jobs, cfg, outpath, overwrite)
    cache = build_cache(load_dataset(inpath), cfg["side"], progress=progress)
    atomic_write(outpath / "sweep.json", json.dumps({"inpath": str(inpath), "grid": str(grid_name),
                                                     "executor": executor, "config": cfg}, indent=1))
    driver = uuid.uuid4().hex  # this command: its workers' claims are its own
    job_of = {model_name(t, s): (t, s) for t, s in jobs}
    run = _run_local if executor == "local" else _run_ray
    poll = min(2.0, cfg["claim_timeout"] / 10)
    records, todo, told = [], list(jobs), False
    bar = tqdm(total=len(jobs), desc="models", unit="model", disable=not progress)
    session = _ray_session(address) if executor == "ray" else nullcontext()
    with bar, session:  # the bar closed on Ctrl-C too, so the closing line stands alone
        while todo:
            waiting = []
            for rec in run(todo, str(cache.path), cfg, str(outpath), overwrite, driver):
                if rec["status"] == "claimed":
                    waiting.append(job_of[rec["model"]])
                    continue
                if rec.get("note"):
                    tqdm.write(rec["note"], file=sys.stderr)
                if rec["status"] == "disk full":
                    raise DiskFullError(rec["error"])
                if rec["status"] == "failed":
                    tqdm.write(f"model {rec['model']} failed: {rec['error']} "
                               f"(see {outpath / rec['model'] / 'error.txt'})")
                records.append(rec)
                bar.set_postfix_str(rec["model"])
                bar.update()
            if waiting and not told:
                tqdm.write(f"{len(waiting)} model(s) are being trained by another worker on {outpath} (claims in "
                           f"{outpath / '.claims'}); they are read back when finished, or taken over when their "
                           f"claim's heartbeat stops for {cfg['claim_timeout']:.0f} s.", file=sys.stderr)
                told = True
            if waiting:
                time.sleep(poll)
            todo = waiting
    return gather(outpath, records, jobs)


def gather(outpath, records, jobs) -> pd.DataFrame:
    """Write the sweep's tables from the per-model records; return the test metrics in grid order."""
    outpath = Path(outpath)
    order = {model_name(t, s): i for i, (t, s) in enumerate(jobs)}
    rows = [dict(m, model=r["model"]) for r in records for m in r.get("metrics", [])]
    cols = list(METRIC_COLUMNS)
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["model", "Mode"], key=lambda s: s.map(order) if s.name == "model" else s)
        table = table[cols + [c for c in table.columns if c not in cols]]
    else:
        table = pd.DataFrame(columns=cols)
    atomic_write(outpath / "metrics_all.csv", table.to_csv(index=False))
    test = table[table["Mode"] == "Test"].reset_index(drop=True) if len(table) else table
    atomic_write(outpath / "metrics_comparison_test.csv", test.to_csv(index=False))
    log = pd.DataFrame([{k: r.get(k) for k in ("model", "Target", "Inputs", "status", "seconds", "error")}
                        for r in records])
    atomic_write(outpath / "sweep_log.csv", log.to_csv(index=False))
    failures = log[log["status"] == "failed"][["model", "Target", "Inputs", "error"]]
    atomic_write(outpath / "failures.csv", failures.to_csv(index=False))
    return test
