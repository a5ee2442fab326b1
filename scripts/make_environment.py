"""Write environment.yml (conda) from requirements.lock, so both pin the same versions.

Usage: python scripts/make_environment.py > environment.yml
(tests/test_environment.py checks that the committed file matches.)
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render() -> str:
    pins = [ln.strip() for ln in (ROOT / "requirements.lock").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    lines = [
        "# Generated from requirements.lock by scripts/make_environment.py; do not edit.",
        "name: legibility",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
        *[f"      - {p}" for p in pins],
        "      - -e .",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
