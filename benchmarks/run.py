"""`make bench`: run every benchmark and print its table (results under benchmarks/results/)."""

import runpy
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    runpy.run_path(str(HERE / "cohort_and_cache.py"), run_name="__main__")
