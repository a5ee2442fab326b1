"""A small sweep killed with SIGKILL at many random moments and restarted each time, against an
uninterrupted run of the same command: the gathered ``metrics_all.csv`` must be the same.

Each start is killed once it has trained a random number of epochs more (0 to twice its share,
so that the kills spread over the training and the later ones meet the reading back and the
gathering) and a random delay (up to 1 s) after that, or, every fourth kill from the second, at
the moment it is writing a file (a temporary file beside its target). One torch thread, the
same seed.

Usage: python benchmarks/chaos.py [--kills 20] [--seed 0] [--workdir DIR]
Writes benchmarks/results/chaos.csv (one row per kill: its delay and what the sweep was doing)
and benchmarks/results/chaos.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
GRID = [("Sex (Male)", "FLAIR + T1"), ("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)"),
        ("Age", "rsfMRI Connectivity"), ("Hypertension", "Non-imaging data (C + P + S)"),
        ("Smoking", "Non-imaging data (C)"), ("Nervous", "Non-imaging data (C + D)"),
        ("HbA1c", "rsfMRI Connectivity + Non-imaging data (C + D + P)")]
SETTINGS = ["--epochs", "4", "--patience", "4", "--batch_size", "8", "--side", "32", "--torch_threads", "1",
            "--seed", "0"]
TIMING = ["Training time (mins)"]


def command(inpath, out, grid) -> list[str]:
    """The sweep command, the same for every start."""
    return [sys.executable, "-m", "legibility.cli", "sweep", "--inpath", str(inpath), "--outpath", str(out),
            "--grid", str(grid), *SETTINGS]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_to_end(cmd) -> float:
    """Run ``cmd`` to its end; its seconds. Raises when it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def _writing(out: Path, pid: int) -> list[Path]:
    """The files process ``pid`` is writing (its temporary files, :func:`legibility.files.atomic_write`)."""
    return list(out.rglob(f"*.tmp{pid}")) if out.exists() else []


def state(out: Path, n_models: int, pid: int) -> dict:
    """What the sweep of process ``pid`` was doing when it was killed, read from its folder."""
    finished = len(list(out.glob("*/done.json")))
    writing = _writing(out, pid)
    return {"writing": ";".join(sorted(f"{p.parent.name}/{p.name}" for p in writing)), "finished": finished,
            "checkpoints": len(list(out.glob("*/last.pt"))),
            "phase": ("writing a file" if writing else "gathering or reading back" if finished == n_models
                      else "training" if any(out.glob("*/last.pt")) else "starting")}


def _written_since(path: Path, since: float) -> bool:
    try:
        return path.stat().st_mtime >= since
    except FileNotFoundError:
        return False


def epochs_done(out: Path) -> int:
    """Epochs recorded over every model of ``out`` (rows of the ``training_progress.csv`` files)."""
    return sum(max(len(p.read_text().splitlines()) - 1, 0) for p in out.glob("*/training_progress.csv"))


def kill_during(cmd, out: Path, epochs: int, delay: float, on_write: bool, n_models: int) -> dict:
    """Start ``cmd``; once it has started its models (its ``sweep.json`` written) and trained
    ``epochs`` more epochs (or finished every model), SIGKILL its process group ``delay`` s later
    (with ``on_write``, as soon as it is writing a file, at the latest ``4 * delay`` s later); what
    it left."""
    started = time.time()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while proc.poll() is None and not _written_since(out / "sweep.json", started):
        time.sleep(0.01)
    base = epochs_done(out)
    while (proc.poll() is None and epochs_done(out) < base + epochs
           and len(list(out.glob("*/done.json"))) < n_models):
        time.sleep(0.02)
    t0 = time.perf_counter()
    limit = 4 * delay if on_write else delay
    while time.perf_counter() - t0 < limit and proc.poll() is None:
        if on_write and _writing(out, proc.pid):
            break
        time.sleep(0.001 if on_write else 0.02)
    ended = proc.poll() is not None
    if not ended:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {"epochs_awaited": epochs, "delay_s": round(time.perf_counter() - t0, 2), "on_write": on_write,
            "ended_first": ended, "epochs_done": epochs_done(out), **state(out, n_models, proc.pid)}


def compare(a: Path, b: Path, atol: float = 1e-6) -> float:
    """The largest difference between two ``metrics_all.csv`` (timing left out); raises when their
    rows, columns or text differ."""
    x, y = (pd.read_csv(p).drop(columns=TIMING) for p in (a, b))
    pd.testing.assert_frame_equal(x, y, atol=atol)
    num = x.select_dtypes("number").columns
    return float(np.nanmax(np.abs(x[num].to_numpy(float) - y[num].to_numpy(float)), initial=0.0))


def chaos(inpath, workdir: Path, kills: int, seed: int = 0, grid_rows=GRID) -> dict:
    """Run the sweep once uninterrupted and once through ``kills`` SIGKILLs; compare them.

    Returns
    -------
    dict
        ``kills`` (one row per kill), ``reference_s``, ``chaos_s`` (every start together),
        ``max_difference``, ``equal`` and the two outpaths.
    """
    workdir = Path(workdir)
    grid = workdir / "grid.csv"
    pd.DataFrame(grid_rows, columns=["Target", "Inputs"]).to_csv(grid, index=False)
    reference, out = workdir / "reference", workdir / "chaos"
    reference_s = run_to_end(command(inpath, reference, grid))
    per_kill = max(1, round(2 * epochs_done(reference) / kills))  # the kills reach the gathering at about half-way
    rng = np.random.default_rng(seed)
    rows, t0 = [], time.perf_counter()
    for i in range(kills):
        rows.append({"kill": i + 1, **kill_during(command(inpath, out, grid), out, int(rng.integers(0, per_kill + 1)),
                                                   rng.uniform(0, 1.0), i % 4 == 1, len(grid_rows))})
    run_to_end(command(inpath, out, grid))
    chaos_s = time.perf_counter() - t0
    for folder in out.glob("*/training_progress.csv"):  # every epoch once, none lost or repeated; no debris
        epochs = pd.read_csv(folder).epoch.tolist()
        assert epochs == list(range(len(epochs))), (folder, epochs)
    left = sorted(str(p.relative_to(out)) for p in out.glob("*/*.tmp*"))
    assert not left, f"half-written files left in model folders: {left}"
    diff = compare(out / "metrics_all.csv", reference / "metrics_all.csv")
    return {"kills": pd.DataFrame(rows), "reference_s": reference_s, "chaos_s": chaos_s, "max_difference": diff,
            "equal": True, "reference": reference, "chaos": out}


def _record(result: dict, kills: int, seed: int, cohort: str):
    table = result["kills"]
    table.to_csv(RESULTS / "chaos.csv", index=False)
    phases = table.phase.value_counts().to_dict()
    lines = [f"# Chaos: a sweep killed {kills} times, {time.strftime('%Y-%m-%d')}", "",
             f"`python benchmarks/chaos.py --kills {kills} --seed {seed}` on {os.cpu_count()} cores; cohort: {cohort}.",
             f"Grid: {len(GRID)} models ({', '.join(f'{t} | {s}' for t, s in GRID)}); "
             f"`{' '.join(SETTINGS)}`.", "",
             f"- uninterrupted run: {result['reference_s']:.0f} s",
             f"- {kills} SIGKILLs and the final run: {result['chaos_s'] / 60:.1f} min in all",
             "- what the sweep was doing at each kill: "
             + ", ".join(f"{k} {v}" for k, v in phases.items())
             + f"; {int(table.ended_first.sum())} start(s) ended before their kill came",
             f"- `metrics_all.csv` after the kills equals the uninterrupted run's: largest difference "
             f"{result['max_difference']:.2g} (tolerance 1e-6, timing column left out); every model's epochs "
             f"trained once each", "",
             "One row per kill in `chaos.csv` (epochs awaited, the delay after them, what was being written, "
             "epochs and models finished)."]
    (RESULTS / "chaos.md").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="default: a temporary folder")
    args = ap.parse_args()
    from legibility.cohort.writer import generate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = work / "data"
        if not data.exists():
            generate_cohort(data, n=40, side=24, seed=3, regions=32, nodes=20, ceiling_n=2000, progress=False,
                            workers=2)
        result = chaos(data, work, args.kills, args.seed)
        _record(result, args.kills, args.seed, "generated, 40 participants at 24^3, seed 3")
    print((RESULTS / "chaos.md").read_text())


if __name__ == "__main__":
    main()
