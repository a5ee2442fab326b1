"""The package's own error: a message that names the file, participant or field and the fix."""

from __future__ import annotations

__all__ = ["DataError", "LegibilityError"]


class LegibilityError(Exception):
    """Base class of errors meant for the user (the CLI prints them without a traceback)."""


class DataError(LegibilityError, ValueError):
    """A dataset on disk is not as the layout requires."""
