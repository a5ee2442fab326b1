"""Files a run writes while it goes: checkpoints and tables, written atomically, read back safely."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import torch

from legibility.files import DamagedFileError, atomic_write

__all__ = ["atomic_csv", "atomic_save", "load_checkpoint"]


def atomic_save(obj, path: Path):
    """``torch.save`` whole or not at all (:func:`legibility.files.atomic_write`): a crash leaves the old file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getbuffer())


def load_checkpoint(path: Path) -> dict:
    """A checkpoint read back as plain tensors (``weights_only``).

    Raises
    ------
    DamagedFileError
        Naming the file, when it is truncated, corrupt or unreadable.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DamagedFileError(f"Checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {err})") from err


def atomic_csv(table: pd.DataFrame, path: Path):
    """A CSV written whole or not at all (:func:`legibility.files.atomic_write`)."""
    atomic_write(path, table.to_csv(index=False))
