"""Files a run writes while it goes: checkpoints and tables, written atomically, read back safely."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from legibility.errors import LegibilityError

__all__ = ["atomic_csv", "atomic_save", "load_checkpoint"]


def atomic_save(obj, path: Path):
    """``torch.save`` to a temporary file, then renamed over ``path``: a crash leaves the old file whole."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint read back as plain tensors (``weights_only``); an error that says what to do if it is corrupt."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise LegibilityError(f"Checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {err}). "
                              f"Delete it to start this model afresh.") from err


def atomic_csv(table: pd.DataFrame, path: Path):
    """A CSV written to a temporary file, then renamed over ``path`` (readable while a run goes on)."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
