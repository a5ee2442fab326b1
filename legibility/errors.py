"""The package's own errors: a message that names the file, participant or field and the fix.

The command line prints a :class:`LegibilityError` as one line and any other exception as one
line that says how to see its traceback (``--debug`` or ``LEGIBILITY_DEBUG=1``): an error the
package did not foresee is a bug or a problem of the machine, and its traceback is the evidence.

Each subclass also derives from the built-in error a Python caller would expect (``ValueError``
for a bad value, ``KeyError`` for an unknown name, ``FileExistsError`` for an occupied folder), so
``except ValueError`` in a caller's code still catches them.
"""

from __future__ import annotations

import os

__all__ = ["DataError", "FolderInUseError", "LegibilityError", "NotebookError", "SettingError", "UnknownNameError",
           "debugging"]


class LegibilityError(Exception):
    """Base class of errors meant for the user (the CLI prints them without a traceback)."""


class DataError(LegibilityError, ValueError):
    """A dataset on disk is not as the layout requires."""


class SettingError(LegibilityError, ValueError):
    """A flag, setting or argument that the package refuses: the message names it and the values it takes."""


class UnknownNameError(LegibilityError, KeyError):
    """An unknown target, input, domain or preset: the message lists the known names."""

    def __str__(self) -> str:  # KeyError's own __str__ would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class FolderInUseError(LegibilityError, FileExistsError):
    """A folder that already holds something the command would overwrite."""


def debugging(flag: bool = False) -> bool:
    """Whether tracebacks are shown: ``flag`` (``--debug``) or ``LEGIBILITY_DEBUG`` set to anything but 0."""
    return bool(flag) or os.environ.get("LEGIBILITY_DEBUG", "").strip() not in ("", "0")


class NotebookError(LegibilityError, RuntimeError):
    """A notebook of the main job failed; the message names the notebook, the cell and where its
    executed copy with the traceback is."""
