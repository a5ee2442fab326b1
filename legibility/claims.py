"""Claims on models: however many drivers share an output folder, each model is trained by one.

A worker takes a model by creating its claim file, ``<outpath>/.claims/<model>.json``: written
whole to a temporary file, then hard-linked to its name, which fails when the name exists (atomic
on local disks and on NFS), so one creator wins. The claim holds the host, the pid, the start,
the driver (one sweep command) and a heartbeat that the holder renews every tenth of the timeout
while it trains; it is removed when the model is finished or has failed.

Another worker meeting a claim leaves the model alone, unless the claim is stale:

- its heartbeat is older than the timeout (:data:`CLAIM_TIMEOUT`, 600 s; ``--claim_timeout``);
- its holder was a process of this host that no longer runs (a killed driver, restarted);
- its holder was a worker of the same driver (Ray retrying a model whose worker died).

A stale claim is taken over, saying so; a second exclusive file makes sure two workers never take
over the same claim at once (that file, too, is taken over when its holder is gone).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from legibility.files import atomic_write

__all__ = ["CLAIM_TIMEOUT", "Claim", "claim_model"]

CLAIM_TIMEOUT = 600.0  # seconds without a heartbeat after which a claim is stale


@dataclass
class Claim:
    """A model held by this process; :meth:`release` when done (the heartbeat stops with it)."""

    path: Path
    holder: dict
    timeout: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # a beat's check-and-write against release

    def start_heartbeat(self):
        def beat():
            while not self._stop.wait(self.timeout / 10):
                with self._lock:
                    if self._stop.is_set():
                        return  # released while this beat waited: writing now would bring the claim back
                    try:
                        if _read(self.path).get("token") != self.holder["token"]:
                            return  # taken over: this process was silent for longer than the timeout
                        atomic_write(self.path, json.dumps({**self.holder, "heartbeat": time.time()}))
                    except Exception:  # noqa: BLE001  a missed beat is retried; a full disk stops training anyway
                        continue

        threading.Thread(target=beat, daemon=True, name=f"heartbeat {self.path.stem}").start()
        return self

    def release(self):
        """Stop the heartbeat and remove the claim, if it is still this process's."""
        with self._lock:
            self._stop.set()
            if _read(self.path).get("token") == self.holder["token"]:
                self.path.unlink(missing_ok=True)


def _read(path: Path) -> dict:
    try:
        out = json.loads(path.read_text())
        return out if isinstance(out, dict) else {}
    except (OSError, ValueError):
        return {}


def _create(path: Path, content: dict) -> bool:
    """Create ``path`` holding ``content``, whole, unless it exists; whether it was created."""
    tmp = atomic_write(path.with_name(f"{path.name}.new{os.getpid()}-{content['token']}"), json.dumps(content))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(held: dict, path: Path, driver: str, timeout: float) -> str | None:
    """Why the claim ``held`` (read from ``path``) may be taken over, or None while its holder lives."""
    if held.get("host") == socket.gethostname() and held.get("pid") is not None and not _alive(int(held["pid"])):
        return f"its process {held['pid']} on this host no longer runs"
    beat = held.get("heartbeat")
    if beat is None:  # unreadable: judge it by the file's age
        try:
            beat = path.stat().st_mtime
        except FileNotFoundError:
            return "it was released"
    age = time.time() - float(beat)
    if age > timeout:
        return f"no heartbeat for {age:.0f} s, more than the {timeout:.0f} s timeout"
    if held.get("driver") == driver and held.get("pid") != os.getpid():
        return "it was held by a worker of this same sweep that died"
    return None


def _describe(held: dict) -> str:
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(held["start"])) if "start" in held else "?"
    return f"host {held.get('host', '?')}, pid {held.get('pid', '?')}, since {start}"


def claim_model(outpath, name: str, driver: str, timeout: float = CLAIM_TIMEOUT) -> tuple[Claim | None, str | None]:
    """Take model ``name`` of ``outpath`` for this process.

    Parameters
    ----------
    outpath : path
        The sweep's output folder; claims are kept in its ``.claims`` folder.
    name : str
        The model's folder name.
    driver : str
        The sweep command this process works for (its claims are taken over when its workers die).
    timeout : float
        Seconds without a heartbeat after which a claim is stale.

    Returns
    -------
    claim : Claim or None
        The claim, its heartbeat running; None when another live worker holds the model.
    note : str or None
        Who holds the model (when ``claim`` is None), or whose stale claim was taken over and why.
    """
    path = Path(outpath) / ".claims" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    me = {"host": socket.gethostname(), "pid": os.getpid(), "driver": driver, "token": uuid.uuid4().hex,
          "start": now, "heartbeat": now}
    if _create(path, me):
        return Claim(path, me, timeout).start_heartbeat(), None
    held = _read(path)
    why = _stale(held, path, driver, timeout)
    if why is None:
        return None, f"{name} is being trained by another worker ({_describe(held)})"
    lock = path.with_name(path.name + ".takeover")
    if not _create(lock, me):
        left = _read(lock)
        if _stale(left, lock, driver, timeout) is None:
            return None, f"{name}'s stale claim is being taken over by another worker"
        if _read(lock).get("token") == left.get("token"):
            lock.unlink(missing_ok=True)  # left by a worker that died while taking over
        if not _create(lock, me):
            return None, f"{name}'s stale claim is being taken over by another worker"
    try:
        now_held = _read(path)
        if now_held.get("token") != held.get("token") and _stale(now_held, path, driver, timeout) is None:
            return None, f"{name} is being trained by another worker ({_describe(now_held)})"
        atomic_write(path, json.dumps(me))
    finally:
        lock.unlink(missing_ok=True)
    return (Claim(path, me, timeout).start_heartbeat(),
            f"took over the claim on {name} ({_describe(held)}): {why}")
