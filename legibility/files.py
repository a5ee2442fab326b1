"""Files written so that a kill, a dying node or a full disk never leaves a half-written one.

One helper writes every file a run keeps (:func:`atomic_write`): the bytes go to a temporary
file beside the target, are flushed to the disk, and the temporary file is renamed over the
target, so a reader sees the old file or the new one, whole. A full disk raises
:class:`DiskFullError` with one line naming the file and the bytes it needed; the earlier
version of the file is left as it was.

A file's record (:func:`file_record`: its size and SHA-256) is kept where it is written, so that
one damaged later (truncated by a full disk, cut short by a copy) is told from a whole one
(:func:`damage`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

from legibility.errors import LegibilityError

__all__ = ["DamagedFileError", "DiskFullError", "atomic_nifti", "atomic_write", "damage", "disk_full_message",
           "file_record", "is_disk_full", "read_json", "recorded_damage", "write_recorded"]


class DiskFullError(LegibilityError):
    """A file could not be written for want of space; the message says where and how much."""


class DamagedFileError(LegibilityError):
    """A file a run wrote earlier is truncated, corrupt or unreadable."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) is a full disk or an exhausted quota."""
    while err is not None:
        if isinstance(err, DiskFullError) or getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        err = err.__cause__ or err.__context__
    return False


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return None


def disk_full_message(path, needed: int | None = None) -> str:
    """One line: the file that could not be written, the bytes it needed and those free, what to do."""
    path = Path(path)
    free = _free_bytes(path.parent)
    need = f"{needed:,} bytes needed" if needed is not None else "more space needed"
    have = f", {free:,} free" if free is not None else ""
    return (f"No space left on the device to write {path} ({need}{have}). Free space there (or choose another "
            f"output folder) and run the same command again: the files written so far are kept and it goes on "
            f"from them.")


def atomic_write(path, data: bytes | str, sync: bool = True) -> Path:
    """Write ``data`` to ``path`` whole or not at all: to a temporary file beside it, flushed to the
    disk (unless ``sync`` is False: whole after a kill, not after a power cut), then renamed over it.

    Raises
    ------
    DiskFullError
        When the device is full (or the quota spent), naming ``path`` and ``len(data)``; the
        temporary file is removed and an earlier ``path`` is left as it was.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")  # two threads never share one
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if is_disk_full(err):
            raise DiskFullError(disk_full_message(path, len(data))) from err
        raise
    return path


def atomic_nifti(img, path, sync: bool = True) -> Path:
    """A nibabel NIfTI image written whole or not at all (:func:`atomic_write`), gzip-compressed at
    nibabel's own level when ``path`` ends in ``.gz``."""
    import gzip

    data = img.to_bytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    return atomic_write(path, data, sync=sync)


def file_record(path) -> dict:
    """``{"bytes": size, "sha256": digest}`` of the file at ``path``."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"bytes": Path(path).stat().st_size, "sha256": digest}


def damage(path, record: dict) -> str | None:
    """How the file at ``path`` differs from its ``record`` (:func:`file_record`), as a phrase; None
    when it matches."""
    path = Path(path)
    if not path.exists():
        return "it is missing"
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"it holds {size:,} bytes where {record['bytes']:,} were written"
    if file_record(path)["sha256"] != record["sha256"]:
        return "its checksum differs from the one recorded when it was written"
    return None


def read_json(path) -> dict:
    """A JSON object read back; :class:`DamagedFileError` naming the file when it is not one."""
    try:
        out = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedFileError(f"{path} is damaged or unreadable ({type(err).__name__}: {err}).") from err
    if not isinstance(out, dict):
        raise DamagedFileError(f"{path} is damaged: it holds no JSON object.")
    return out


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".record.json")


def write_recorded(path, data: bytes | str) -> Path:
    """:func:`atomic_write`, then the file's record (:func:`file_record`) beside it, in
    ``<name>.record.json``, for :func:`recorded_damage`."""
    path = atomic_write(path, data)
    atomic_write(_record_path(path), json.dumps(file_record(path)))
    return path


def recorded_damage(path) -> str | None:
    """How the file at ``path`` differs from the record :func:`write_recorded` left beside it, as a
    phrase; None when it matches. A file without a readable record counts as damaged."""
    path = Path(path)
    try:
        record = read_json(_record_path(path))
    except DamagedFileError:
        return f"has no readable record of its size and checksum ({_record_path(path).name})"
    problem = damage(path, record)
    return f"is damaged: {problem}" if problem else None
