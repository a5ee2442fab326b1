"""`make bench`: every cost figure of the project in one run, printed and recorded.

Runs, at the smallest sizes that keep each figure stable:
1. the data path: an epoch read from the cache vs decoding and resizing the NIfTI files
   (128^3 -> 64^3) each epoch, as the paper did (``cohort_and_cache.py --parts read``);
2. training throughput of both presets on CPU: default layout, channels-last, compile
   (``training_throughput.py``; GPU lines where a GPU is present);
3. growth of cohort generation and cache build from 250 to 1,000 participants at 32^3 with
   peak memory, and the loader's headroom over training (``pipeline_costs.py``);
4. the linear peers of all 700 grid models at the main job's size, shared decompositions
   against one by one (``linear_peers.py``);
5. the main job's wall time as `make paper` last recorded it (not re-run).
Writes the scripts' CSVs and ``benchmarks/results/summary.md``.
"""

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent


def _run(script: str, *args: str):
    """Each benchmark in a fresh interpreter: torch's thread pools never cross a fork."""
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)


def _main_job() -> str:
    record = ROOT / "results" / "paper_wall_time.txt"
    if record.exists():
        return f"{record.read_text().strip()} for the notebooks (results/paper_wall_time.txt, last `make paper`)"
    return "not recorded on this machine (run `make paper`); docs/running_the_paper.md records 5 min 34 s on 2 cores"


def summary() -> str:
    import torch

    read = pd.read_csv(RESULTS / "cohort_and_cache.csv")
    read = read[read.part == "read"].set_index("benchmark").value
    thr = pd.read_csv(RESULTS / "training_throughput.csv")
    grow = pd.read_csv(RESULTS / "growth.csv")
    head = pd.read_csv(RESULTS / "loader_headroom.csv")
    n0, n1 = grow.participants.iloc[0], grow.participants.iloc[-1]
    lines = [f"# make bench, {time.strftime('%Y-%m-%d')}, {platform.node()} ({os.cpu_count()} cores, "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads)", "",
             "## Data path (64 participants' worth of epochs; goal >= 50x)", "",
             f"- NIfTI decode + resize 128^3 -> 64^3 each epoch: {read.filter(like='NIfTI').iloc[0]:.1f} volumes/s",
             f"- memory-mapped cache: {read.filter(like='(ours)').iloc[0]:.0f} volumes/s",
             f"- ratio: **{read.filter(like='speed-up').iloc[0]:.0f}x**", "",
             "## Loader headroom (goal >= 2x)", "",
             "| preset | side | batch | loader volumes/s | training volumes/s | headroom |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.preset} | {r.side} | {r.batch} | {r.loader_volumes_per_s:.0f} | "
              f"{r.training_volumes_per_s:.1f} | **{r.headroom_x:.0f}x** |" for r in head.itertuples()]
    lines += ["", "## Training throughput (fused model with all branches, fp32)", "",
              "| preset | side | batch | device | precision | layout | samples/s | warm-up s | peak GiB |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in thr.itertuples():
        if r.device == "no GPU":
            lines.append("| paper | 64, 128 | | **no GPU** on this machine | | | | | |")
            continue
        lines.append(f"| {r.preset} | {r.side} | {int(r.batch)} | {r.device} | {r.precision} | {r.layout} | "
                     f"{r.samples_per_s:.2f} | {r.warmup_s:.1f} | {r.peak_gib if r.peak_gib == r.peak_gib else ''} |")
    lines += ["", f"## Growth at 32^3, {n0} -> {n1} participants (one process each, one worker)", "",
              "| participants | generate s | per 1,000 | cache build s | per 1,000 | generate peak MiB | "
              "cache peak MiB | epoch read s | epoch read peak MiB | cache MiB |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.participants} | {r.generate_s:.1f} | {1000 * r.generate_s / r.participants:.1f} | "
              f"{r.cache_s:.1f} | {1000 * r.cache_s / r.participants:.1f} | {r.generate_peak_mib:.0f} | "
              f"{r.cache_peak_mib:.0f} | {r.epoch_read_s:.2f} | {r.epoch_read_peak_mib:.0f} | {r.cache_mib:.0f} |"
              for r in grow.itertuples()]
    g, c = grow.generate_s, grow.cache_s
    lines += ["", f"Time ratio {n1} vs {n0} participants (linear: {n1 / n0:.1f}): generation "
              f"{g.iloc[-1] / g.iloc[0]:.2f}, cache build {c.iloc[-1] / c.iloc[0]:.2f}."]
    peers = pd.read_csv(RESULTS / "linear_peers.csv").iloc[0]
    lines += ["", f"## The 700 linear peers at the main job's size ({int(peers.participants)} participants; "
              "goal < 120 s)",
              "", f"- shared decompositions: **{peers.shared_s:.0f} s** wall ({peers.shared_cpu_s:.0f} s CPU) for all "
              f"{int(peers.models)}", f"- one by one: {peers.one_by_one_s_per_model:.1f} s a model (mean of "
              f"{int(peers.one_by_one_sample)}), {peers.one_by_one_700_s / 60:.0f} min for all {int(peers.models)}",
              f"- ratio: **{peers.ratio:.0f}x** ({peers.ratio_cpu:.0f}x in CPU time); same scores: largest difference "
              f"{peers.max_abs_diff:.2g} ({int(peers.scores_differing)} of {int(peers.scores_compared)} scores differ "
              "by more than 1e-9; benchmarks/results/linear_peers.md)"]
    lines += ["", "## Main job", "", f"- {_main_job()}", "", "## GPU", "",
              "- " + ("see the GPU rows above" if torch.cuda.is_available() else
                      "no GPU on this machine; the paper preset measured on an NVIDIA H200 (throughput, the "
                      "engine end to end, the grid's GPU-hours): benchmarks/results/gpu_h200/README.md")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    t0 = time.perf_counter()
    _run("cohort_and_cache.py", "--parts", "read", "--n-read", "64")
    _run("training_throughput.py")
    _run("pipeline_costs.py")
    _run("linear_peers.py")
    text = summary()
    (RESULTS / "summary.md").write_text(text)
    print(text)
    print(f"make bench: {time.perf_counter() - t0:.0f} s")
