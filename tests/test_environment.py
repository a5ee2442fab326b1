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
