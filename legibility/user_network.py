"""Bring your own network: a class (or factory) named ``module:Name`` trained by the engine.

``legibility train --network mypackage.nets:MyNet`` (also ``--model``, and on ``sweep`` and
``scaling``) builds ``MyNet(spec, **network_args)`` in place of the fused model, where ``spec``
is a :class:`NetworkSpec`: what the engine knows of the model's inputs and outputs. The
network maps the engine's batch dict to outputs:

- ``batch["volumes"]``: ``(B, len(spec.channels), side, side, side)`` float, the volumes
  stacked in the order of ``spec.channels`` (when the input set has any);
- ``batch["connectivity"]``: ``(B, spec.n_edges)``, the upper triangle of the matrix;
- ``batch["metadata"]``: ``(B, spec.n_metadata)``, normalised, the target's own domain zeroed;

and returns ``(B, spec.n_outputs)``: one output for a continuous target (the engine's transformed
units), two logits for a binary one (sigmoid + BCE on one-hot). Everything else stays the
engine's: the leakage rule, normalisers, undersampling, the optimiser and schedule of the preset,
early stopping, checkpoints and resume, metrics, the linear peer and the ceiling. A network may
define ``penalty()`` (a scalar tensor added to the loss). Its class path and arguments are kept
in the checkpoints, so ``legibility predict`` rebuilds it (``weights_only=True`` still: only
the path, the arguments and the weights are stored). ``module`` may also be a file,
``path/to/nets.py:MyNet``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from legibility.errors import LegibilityError

__all__ = ["NetworkSpec", "UserNetwork", "load_network"]


@dataclass(frozen=True)
class NetworkSpec:
    """What the engine knows of one model when it builds a network for it.

    Parameters
    ----------
    target : str
        The target's key (``age``, ``sex``, ...).
    inputs : tuple of str
        The input keys in use after the leakage rule (``t1``, ``flair``, ``dwi``,
        ``connectivity``, ``metadata``).
    side : int
        Voxels per side of the volumes.
    channels : tuple of str
        The volumes stacked in ``batch["volumes"]``, in order (empty without volumes).
    n_edges : int
        Width of ``batch["connectivity"]`` (0 without connectivity).
    n_metadata : int
        Width of ``batch["metadata"]`` (0 without metadata).
    n_outputs : int
        1 for a continuous target, 2 for a binary one.
    """

    target: str
    inputs: tuple[str, ...]
    side: int
    channels: tuple[str, ...]
    n_edges: int
    n_metadata: int
    n_outputs: int

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> NetworkSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def load_network(path: str):
    """The class or factory named by ``path`` (``module:Name`` or ``file.py:Name``), with an error
    that says what to do when it cannot be found."""
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise LegibilityError(f"--network {path!r}: give it as module:Name (e.g. mypackage.nets:MyNet) or "
                              f"path/to/file.py:Name.")
    where, name = path.split(":")
    try:
        if where.endswith(".py"):
            file = Path(where).expanduser().resolve()
            if not file.is_file():
                raise LegibilityError(f"--network {path}: no file {file}.")
            spec = importlib.util.spec_from_file_location(f"legibility_user_network_{file.stem}", file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except LegibilityError:
        raise
    except ImportError as err:
        raise LegibilityError(f"--network {path}: cannot import {where} ({err}); install it, put its folder on "
                              f"PYTHONPATH, or give the file as path/to/file.py:{name}.") from err
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        raise LegibilityError(f"--network {path}: {where} has no {name!r}"
                              + (f"; its networks: {', '.join(found)}." if found else "."))
    return getattr(module, name)


class UserNetwork(nn.Module):
    """A user's network inside the engine: built from its class path, arguments and
    :class:`NetworkSpec`, its outputs checked, its record kept for ``predict``."""

    linear_path = None  # the engine starts no linear path in a user's network

    def __init__(self, path: str, args: dict | None, spec: NetworkSpec):
        super().__init__()
        self.path, self.args, self.spec = path, dict(args or {}), spec
        make = load_network(path)
        try:
            net = make(spec, **self.args)
        except TypeError as err:
            raise LegibilityError(f"--network {path}: {getattr(make, '__name__', path)}(spec, **{self.args}) "
                                  f"failed: {err}. It is called with a NetworkSpec first, then the "
                                  f"--network_args.") from err
        if not isinstance(net, nn.Module):
            raise LegibilityError(f"--network {path} made a {type(net).__name__}, not a torch.nn.Module.")
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.net(batch)
        n = next(v for v in batch.values() if torch.is_tensor(v)).shape[0]
        if not torch.is_tensor(out) or tuple(out.shape) != (n, self.spec.n_outputs):
            got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            kind = "two logits: binary" if self.spec.n_outputs == 2 else "one value: continuous"
            raise LegibilityError(
                f"--network {self.path} returned {got} for a batch of {n}; expected a tensor of shape "
                f"({n}, {self.spec.n_outputs}): (batch, n_outputs), n_outputs = {self.spec.n_outputs} for "
                f"{self.spec.target} ({kind}).")
        return out

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return list(self.named_parameters())

    def penalty(self) -> torch.Tensor:
        own = getattr(self.net, "penalty", None)
        return own() if callable(own) else torch.zeros((), device=next(self.parameters()).device)

    def record(self) -> dict:
        """What rebuilds it: plain strings, numbers and lists (``weights_only=True`` loads them)."""
        return {"path": self.path, "args": self.args, "spec": self.spec.to_dict()}

    @classmethod
    def from_record(cls, record: dict) -> UserNetwork:
        return cls(record["path"], record["args"], NetworkSpec.from_dict(record["spec"]))
