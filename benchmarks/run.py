"""`make bench`: run every benchmark and print its table (results under benchmarks/results/)."""

import runpy
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for script in ("cohort_and_cache.py", "training_throughput.py"):
        runpy.run_path(str(HERE / script), run_name="__main__")
