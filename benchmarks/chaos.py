"""A small sweep killed with SIGKILL at many random moments and restarted each time, against an
uninterrupted run of the same command: the gathered ``metrics_all.csv`` must be the same.

Each kill comes at a random moment spread over the run (its delay drawn so that the kills cover
the training, the checkpoint writes and the gathering), or, every fourth kill from the second, at the moment a
file is being written (a temporary file beside its target). One torch thread, the same seed.

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
        ("Age", "rsfMRI Connectivity")]
SETTINGS = ["--epochs", "3", "--patience", "3", "--batch_size", "8", "--side", "32", "--torch_threads", "1",
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


def _writing(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp" in p.name]


def state(out: Path, n_models: int) -> dict:
    """What a killed sweep had on disk: half-written files, finished models, checkpoints."""
    finished = len(list(out.glob("*/done.json")))
    return {"writing": ";".join(sorted(p.name for p in _writing(out))), "finished": finished,
            "checkpoints": len(list(out.glob("*/last.pt"))),
            "phase": ("writing a file" if _writing(out) else "gathering or reading back" if finished == n_models
                      else "training" if any(out.glob("*/last.pt")) else "starting")}


def kill_during(cmd, out: Path, delay: float, on_write: bool, n_models: int) -> dict:
    """Start ``cmd``, SIGKILL its process group after ``delay`` s (or, with ``on_write``, as soon as
    a file is being written, at the latest after ``delay``); what it left."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < delay and proc.poll() is None:
        if on_write and out.exists() and _writing(out):
            break
        time.sleep(0.002 if on_write else 0.05)
    ended = proc.poll() is not None
    if not ended:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {"delay_s": round(time.perf_counter() - t0, 2), "on_write": on_write, "ended_first": ended,
            **state(out, n_models)}


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
    startup_s = run_to_end(command(inpath, reference, grid))  # all read back: start-up and gathering only
    work_s = max(reference_s - startup_s, 1.0)
    rng = np.random.default_rng(seed)
    rows, t0 = [], time.perf_counter()
    for i in range(kills):
        delay = rng.uniform(0.5 * startup_s, startup_s + 2 * work_s / kills)
        rows.append({"kill": i + 1, **kill_during(command(inpath, out, grid), out, delay, i % 4 == 1,
                                                   len(grid_rows))})
    run_to_end(command(inpath, out, grid))
    chaos_s = time.perf_counter() - t0
    for folder in out.glob("*/training_progress.csv"):  # every epoch once, none lost or repeated
        epochs = pd.read_csv(folder).epoch.tolist()
        assert epochs == list(range(len(epochs))), (folder, epochs)
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
             "One row per kill in `chaos.csv` (delay, what was being written, models finished)."]
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
