"""Problems of a dataset, raised at once or gathered so that ``legibility check`` lists them all.

Readers call :func:`problem` for an error that does not stop the reading of the rest (a bad
cell, a stray file). Outside :func:`gathering` it raises :class:`~legibility.errors.DataError`
at once, as training needs; inside it the problem is kept and reading goes on, so one ``check``
lists every problem of the dataset, grouped by file and participant (:func:`format_problems`).
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from legibility.errors import DataError

__all__ = ["Problem", "format_problems", "gathering", "problem", "report_all"]


@dataclass(frozen=True)
class Problem:
    """One problem: the file it is in, the participant (empty for the whole file) and the message."""

    file: str
    participant: str
    text: str


_GATHERED: contextvars.ContextVar[list | None] = contextvars.ContextVar("gathered", default=None)


@contextlib.contextmanager
def gathering():
    """Keep the problems reported inside the block instead of raising; yields their list."""
    found: list[Problem] = []
    token = _GATHERED.set(found)
    try:
        yield found
    finally:
        _GATHERED.reset(token)


def problem(text: str, file="", participant="") -> None:
    """Report an error: raise it as a :class:`DataError`, or keep it inside :func:`gathering`."""
    found = _GATHERED.get()
    if found is None:
        raise DataError(text)
    found.append(Problem(str(file), str(participant), text))


def report_all(found: list[Problem], summary: str) -> None:
    """Report ``found`` together: kept one by one inside :func:`gathering`, else raised as one
    :class:`DataError` starting with ``summary`` and listing the first 10."""
    if not found:
        return
    gathered = _GATHERED.get()
    if gathered is not None:
        gathered.extend(found)
        return
    shown = "\n  ".join(p.text for p in found[:10])
    more = f"\n  ... and {len(found) - 10} more" if len(found) > 10 else ""
    raise DataError(f"{summary}:\n  {shown}{more}")


def format_problems(title: str, problems: list[Problem]) -> list[str]:
    """Lines listing ``problems`` under ``title`` with their count, grouped by file, then by
    participant (problems of the whole file first)."""
    if not problems:
        return []
    lines = [f"{title} ({len(problems)}):"]
    files: dict[str, list[Problem]] = {}
    for p in problems:
        files.setdefault(p.file, []).append(p)
    for file, group in files.items():
        lines.append(f"  {file or 'the dataset'} ({len(group)}):")
        for p in sorted(group, key=lambda p: (p.participant != "", p.participant)):
            lines.append(f"    {p.text}")
    return lines
