"""The pinned environment: one set of pins for pip and conda."""

import re
import subprocess
import sys

from conftest import ROOT


def test_environment_yml_is_generated_from_lock():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_environment.py")],
                         capture_output=True, text=True, check=True).stdout
    assert (ROOT / "environment.yml").read_text() == out, (
        "environment.yml is stale: run `make environment.yml`")


def test_lock_pins_every_package_and_cpu_torch():
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines() if ln.strip()]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=\s]+", ln) for ln in lines), lines
    assert "torch==2.13.0" in lines


def test_env_command_prints_what_a_run_uses(capsys, tmp_path):
    import torch

    from legibility.cli import main

    assert main(["env", "--inpath", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"torch      {torch.__version__}" in out
    assert f"torch uses {torch.get_num_threads()} threads" in out
    assert f"{tmp_path}/_cache" in out
    if not torch.cuda.is_available():
        assert "none seen" in out
    if torch.version.cuda is None:
        assert "make env TORCH=cu128" in out


def test_make_env_takes_the_cuda_build_of_the_pinned_torch():
    import shutil

    import pytest

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-B", "env", "TORCH=cu128"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert '"torch==2.13.0+cu128"' in dry
    assert "--index-url https://download.pytorch.org/whl/cu128" in dry
    cpu = subprocess.run(["make", "-n", "-B", "env"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "pip install --quiet -r requirements.lock" in cpu
    assert 'if [ "cpu" != "cpu" ]' in cpu  # the CPU default never reaches PyTorch's index
