"""A full disk: one line naming the file and the bytes it needed, every earlier file intact, and
the same command goes on once space is freed. On a real, small tmpfs (mounting needs root)."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT

from legibility.sweep import SweepConfig, sweep

GRID_ROWS = [("Hb", "Non-imaging data (C + D + P)"), ("Worry", "Non-imaging data (C)")]
CONFIG = dict(epochs=2, patience=2, batch_size=8, side=32, torch_threads=1)
PAGE = 4096


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs at ``tmp_path/disk``; ``resize(bytes)`` changes its size."""
    mount = tmp_path / "disk"
    mount.mkdir()

    def resize(size: int, first: bool = False):
        opts = f"size={size}" if first else f"remount,size={size}"
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(mount)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")

    yield mount, resize
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def on_disk_file(path) -> int:
    """Bytes a file takes on a tmpfs (whole pages)."""
    return -(-path.stat().st_size // PAGE) * PAGE


def on_disk(folder) -> int:
    """Bytes ``folder``'s files take on a tmpfs."""
    return sum(on_disk_file(p) for p in folder.rglob("*") if p.is_file())


def command(inpath, out, grid):
    args = ["sweep", "--inpath", str(inpath), "--outpath", str(out), "--grid", str(grid)]
    for k, v in CONFIG.items():
        args += [f"--{k}", str(v)]
    return [sys.executable, "-m", "legibility.cli", *args]


def without_timing(table):
    return table.drop(columns=["Training time (mins)"])


def test_a_full_disk_while_training_says_where_and_how_much_and_the_same_command_goes_on(
        tiny_cohort, tmp_path, small_disk):
    grid = tmp_path / "grid.csv"
    pd.DataFrame(GRID_ROWS, columns=["Target", "Inputs"]).to_csv(grid, index=False)
    reference = tmp_path / "reference"
    sweep(tiny_cohort, reference, grid, config=SweepConfig(**CONFIG), progress=False)
    mount, resize = small_disk
    first, second = reference / "hb__meta-c-d-p", reference / "worry__meta-c"
    rewritten = sum(on_disk_file(first / n) for n in ("last.pt", "best_model.pt"))
    # room for the first model (and the new checkpoints of an epoch beside the old), not for both
    resize(on_disk(first) + rewritten + on_disk(second) // 2, first=True)
    out = mount / "sweep"
    full = subprocess.run(command(tiny_cohort, out, grid), cwd=ROOT, capture_output=True, text=True)
    assert full.returncode == 2, full.stderr[-3000:]
    errors = [ln for ln in full.stderr.splitlines() if "error" in ln.lower()]
    assert "Traceback" not in full.stderr
    assert len(errors) == 1, full.stderr[-3000:]
    assert f"No space left on the device to write {out}" in errors[0]
    assert "bytes needed" in errors[0]
    assert "run the same command again" in errors[0]
    done = sorted(p.parent.name for p in out.glob("*/done.json"))
    assert done == ["hb__meta-c-d-p"]  # the first model finished before the disk filled
    pd.testing.assert_frame_equal(without_timing(pd.read_csv(out / first.name / "metrics.csv")),
                                  without_timing(pd.read_csv(first / "metrics.csv")), atol=1e-6)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or ".new" in p.name]  # no half-written file left
    stamp = (out / first.name / "done.json").read_text()

    resize(64 * 2**20)  # space freed
    again = subprocess.run(command(tiny_cohort, out, grid), cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    log = pd.read_csv(out / "sweep_log.csv").set_index("model").status.to_dict()
    assert log == {"hb__meta-c-d-p": "skipped", "worry__meta-c": "trained"}
    assert (out / first.name / "done.json").read_text() == stamp
    pd.testing.assert_frame_equal(without_timing(pd.read_csv(out / "metrics_all.csv")),
                                  without_timing(pd.read_csv(reference / "metrics_all.csv")), atol=1e-6)


def test_a_full_disk_while_building_the_cache_says_how_much_it_needs(tiny_cohort, tmp_path, small_disk):
    mount, resize = small_disk
    data_bytes = on_disk(tiny_cohort) - sum(on_disk(p) for p in (tiny_cohort / "_cache").glob("side*"))
    resize(data_bytes + 64 * PAGE, first=True)  # the data fit; a 32^3 cache (about 8 MB) does not
    data = mount / "data"
    shutil.copytree(tiny_cohort, data, ignore=shutil.ignore_patterns("_cache"))
    grid = tmp_path / "grid.csv"
    pd.DataFrame(GRID_ROWS[:1], columns=["Target", "Inputs"]).to_csv(grid, index=False)
    out = tmp_path / "sweep"
    full = subprocess.run(command(data, out, grid), cwd=ROOT, capture_output=True, text=True)
    assert full.returncode == 2, full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    line = full.stderr.strip().splitlines()[-1]
    assert f"No space left on the device to write {data / '_cache'}" in line
    assert "bytes needed" in line
    assert not [p for p in (data / "_cache").glob("*") if not p.name.startswith("verified")]  # no partial cache
    resize(64 * 2**20)
    again = subprocess.run(command(data, out, grid), cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
