"""The fused network of the paper: a 3D CNN over the stacked volumes, an MLP over the
connectivity upper triangle, an MLP over the metadata, and a head over their concatenation.

Read top to bottom: the config, then the pieces, then the composition. The model knows no
files; :mod:`legibility.train` feeds it dictionaries of tensors keyed by the study's input keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from legibility.config import known_preset
from legibility.errors import SettingError

__all__ = ["PRESETS", "FusedModel", "ModelConfig", "autocast", "loss_function", "preset", "to_device"]


@dataclass
class ModelConfig:
    # --- which branches are used (an unused branch outputs zeros and is not optimised)
    use_volumes: bool = True
    use_connectivity: bool = False
    use_metadata: bool = False
    # --- the CNN over stacked volumes, channels in the order [flair, t1, dwi]
    side: int = 64  # voxels per side of the input volumes
    in_channels: int = 3  # number of stacked volumes actually used
    cnn_channels: tuple[int, ...] = (32, 64, 128, 256, 256)  # one residual block each (+256 at 128^3)
    cnn_dense: int = 128  # 256 at 128^3
    pool: str = "max"  # down-sampling of each block: "max" (the paper) or "avg"
    norm: str = "batch"  # normalisation in each block: "batch" (the paper) or "group" (8 groups at most)
    input_pool: int = 1  # average-pool the input volumes by this factor first (1: none, the paper)
    global_pool: bool = False  # False: flatten the last block (the paper); True: global average pool
    channels_last: bool = True  # run the convolutions in channels_last_3d (same maths, ~1.4x faster on CPU)
    linear_path: bool = False  # ours: a linear map from the (pooled) input voxels to the outputs, added
    # to the head's output, so the network holds its linear peer as a special case (its start: below)
    linear_path_lr: float = 1.0  # the path's learning rate as a multiple of the network's (Adam moves
    # each of its thousands of weights by about the rate a step: at the full rate it overshoots)
    linear_path_start: str = "zero"  # "zero", or "peer": the path starts as its linear peer's fit on the
    # training set (ridge or class-balanced logistic regression, penalty chosen on validation) and the
    # head's last layer at zero, so training starts from the linear solution and the CNN learns the rest
    # --- the connectivity MLP
    n_edges: int = 64_620  # 360 * 359 / 2
    conn_hidden: int = 128
    conn_dropout: float = 0.5
    # --- the metadata MLP
    n_metadata: int = 24
    meta_hidden: tuple[int, ...] = (128, 64, 32)
    # --- the head
    head_hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.1  # in the residual blocks (Dropout3d), the metadata MLP and the head
    head_dropout: float | None = None  # dropout of the dense layers only (the head, and the CNN's
    # features before its dense layer); None: ``dropout`` in the head, none before the CNN's dense (the paper)
    n_outputs: int = 1  # 2 for binary targets (sigmoid + BCE on one-hot), 1 for continuous
    # --- regularisation: coefficient x mean(W^2) of every non-bias weight tensor
    l2: float = 1e-4
    l2_connectivity_first: float = 1e-3  # the first connectivity layer

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})


# Presets are instances, not branches in code.
PRESETS: dict[str, ModelConfig] = {
    # The paper's widths at 64^3 (about 7.4 M CNN parameters, 8.3 M in the first connectivity layer).
    "paper": ModelConfig(),
    # The paper at 128^3: an extra 256 block, a 256-wide dense layer.
    "paper128": ModelConfig(side=128, cnn_channels=(32, 64, 128, 256, 256, 256), cnn_dense=256),
    # Ours, not the paper's: small, at 32^3, learns on a laptop CPU in a minute or two. Chosen on
    # validation scores on 800 training participants (docs/cpu_recipe.md):
    # the volumes average-pooled to 16^3, one residual block of 16 channels, its 8^3 x 16 map
    # flattened into the dense layer; no dropout in the block (Dropout3d over few channels kept
    # the training loss from falling); a linear path from the 16^3 voxels to the output, started at
    # its linear peer's fit (the head's output at zero), so the network starts where the linear
    # model ends and the CNN learns what it leaves; the path learns at 1/32 of the rate (at the full
    # rate the training loss spiked at the peak rate and age fell to 0.75 at 4,000 participants).
    # Started at zero the path left validation 0.012 (age) and 0.004 (sex) under the linear peer;
    # started at the peer's fit, 0.007 and 0.008 above it (two cohorts x two seeds each). Its
    # training recipe is legibility.config.TRAINING_DEFAULTS.
    "cpu": ModelConfig(side=32, input_pool=2, cnn_channels=(16,), cnn_dense=64, conn_hidden=64,
                       meta_hidden=(64, 32, 32), head_hidden=(64, 64), dropout=0.0, linear_path=True,
                       linear_path_lr=1 / 32, linear_path_start="peer"),
}


def preset(name: str, side: int | None = None, **overrides) -> ModelConfig:
    """A preset, adapted to ``side`` (``paper`` at 128 becomes ``paper128``)."""
    if name != "paper128":
        known_preset(name)
    if name == "paper" and side == 128:
        name = "paper128"
    cfg = PRESETS[name]
    if side is not None and side != cfg.side:
        cfg = replace(cfg, side=side)
    return replace(cfg, **overrides)


POOLS = {"max": nn.MaxPool3d, "avg": nn.AvgPool3d}


def norm3d(kind: str, channels: int) -> nn.Module:
    """Batch norm (the paper) or group norm (at most 8 groups; the same in training and evaluation)."""
    if kind == "batch":
        return nn.BatchNorm3d(channels)
    if kind == "group":
        return nn.GroupNorm(next(g for g in (8, 4, 2, 1) if channels % g == 0), channels)
    raise SettingError(f"norm must be 'batch' or 'group', got {kind!r}.")


class ResidualBlock(nn.Module):
    """conv3 -> GELU -> conv3, plus a 1x1x1 skip conv; then norm -> GELU -> pool 2 -> dropout."""

    def __init__(self, c_in: int, c_out: int, dropout: float, pool: str = "max", norm: str = "batch"):
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, c_out, 3, padding=1)
        self.act = nn.GELU()
        self.conv2 = nn.Conv3d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv3d(c_in, c_out, 1)
        self.post = nn.Sequential(norm3d(norm, c_out), nn.GELU(), POOLS[pool](2), nn.Dropout3d(dropout))

    def forward(self, x):  # (B, c_in, S, S, S) -> (B, c_out, S/2, S/2, S/2)
        return self.post(self.conv2(self.act(self.conv1(x))) + self.skip(x))


class VolumeEncoder(nn.Module):
    """The 3D CNN: (optional input pooling), residual blocks, then flatten (or global average
    pooling) -> dense -> BN -> GELU."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        chans = (cfg.in_channels, *cfg.cnn_channels)
        self.channels_last = cfg.channels_last
        self.inpool = nn.AvgPool3d(cfg.input_pool) if cfg.input_pool > 1 else nn.Identity()
        self.blocks = nn.Sequential(*[ResidualBlock(a, b, cfg.dropout, cfg.pool, cfg.norm)
                                      for a, b in zip(chans, chans[1:], strict=False)])
        final = 1 if cfg.global_pool else cfg.side // cfg.input_pool // 2 ** len(cfg.cnn_channels)
        if final < 1:
            raise SettingError(f"side {cfg.side} is too small for {len(cfg.cnn_channels)} pooling blocks.")
        gather = nn.Sequential(nn.AdaptiveAvgPool3d(1) if cfg.global_pool else nn.Identity(), nn.Flatten(),
                               nn.Dropout(cfg.head_dropout or 0.0))
        self.dense = nn.Sequential(gather, nn.Linear(cfg.cnn_channels[-1] * final**3, cfg.cnn_dense),
                                   nn.BatchNorm1d(cfg.cnn_dense), nn.GELU())

    def forward(self, x):  # (B, C, S, S, S) -> (B, cnn_dense)
        x = self.inpool(x)  # (B, C, S/p, S/p, S/p)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.dense(self.blocks(x))


def mlp(sizes, dropout: float) -> nn.Sequential:
    """Linear -> BN -> GELU -> dropout for each step of ``sizes``."""
    layers = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class FusedModel(nn.Module):
    """The paper's fused network. ``forward`` takes a dict with ``volumes``, ``connectivity``
    and ``metadata`` tensors (those of unused branches may be absent)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        # Every branch is built (checkpoints always have one structure); unused ones are never
        # run, never penalised and never given to the optimiser.
        self.volumes = VolumeEncoder(cfg)
        self.connectivity = mlp((cfg.n_edges, cfg.conn_hidden, cfg.conn_hidden), cfg.conn_dropout)
        self.metadata = mlp((cfg.n_metadata, *cfg.meta_hidden), cfg.dropout)
        self.used = {"volumes": cfg.use_volumes, "connectivity": cfg.use_connectivity,
                     "metadata": cfg.use_metadata}
        if not any(self.used.values()):
            raise SettingError("the model needs at least one input: volumes, connectivity or metadata.")
        width = cfg.cnn_dense + cfg.conn_hidden + cfg.meta_hidden[-1]
        head_dropout = cfg.dropout if cfg.head_dropout is None else cfg.head_dropout
        self.head = nn.Sequential(mlp((width, *cfg.head_hidden), head_dropout),
                                  nn.Linear(cfg.head_hidden[-1], cfg.n_outputs))
        self.linear_path = None
        if cfg.linear_path and cfg.use_volumes:
            self.linear_path = nn.Linear(cfg.in_channels * (cfg.side // cfg.input_pool) ** 3, cfg.n_outputs)
            nn.init.zeros_(self.linear_path.weight)
            nn.init.zeros_(self.linear_path.bias)
            if cfg.linear_path_start not in ("zero", "peer"):
                raise SettingError(f"linear_path_start must be 'zero' or 'peer', got {cfg.linear_path_start!r}.")
            if cfg.linear_path_start == "peer":  # the network's own output starts at zero too
                nn.init.zeros_(self.head[-1].weight)
                nn.init.zeros_(self.head[-1].bias)

    def _branch(self, name, x, width, batch, ref):
        if not self.used[name]:  # an unused input: zeros in its place
            return torch.zeros(batch, width, device=ref.device, dtype=torch.float32)
        return getattr(self, name)(x)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ref = next(v for v in batch.values() if torch.is_tensor(v))
        n = ref.shape[0]
        cfg = self.cfg
        z = torch.cat([
            self._branch("volumes", batch.get("volumes"), cfg.cnn_dense, n, ref),
            self._branch("connectivity", batch.get("connectivity"), cfg.conn_hidden, n, ref),
            self._branch("metadata", batch.get("metadata"), cfg.meta_hidden[-1], n, ref),
        ], dim=1)  # (B, cnn_dense + conn_hidden + meta_out)
        out = self.head(z)  # (B, n_outputs)
        if self.linear_path is not None:  # the voxels the CNN sees, weighted and summed
            out = out + self.linear_path(self.volumes.inpool(batch["volumes"]).flatten(1))
        return out

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        """Parameters of the used branches and the head: what the optimiser gets."""
        keep = [n for n, u in self.used.items() if u] + ["head", "linear_path"]
        return [(n, p) for n, p in self.named_parameters() if n.split(".")[0] in keep]

    def penalty(self) -> torch.Tensor:
        """L2: coefficient x mean(W^2) of every non-bias weight tensor of the used branches and
        the head (the first connectivity layer with its own, larger coefficient)."""
        first_conn = self.connectivity[0].weight
        total = torch.zeros((), device=first_conn.device)
        for name, p in self.trainable():
            if name.endswith("bias") or p.ndim < 2:
                continue
            coef = self.cfg.l2_connectivity_first if p is first_conn else self.cfg.l2
            total = total + coef * p.pow(2).mean()
        return total

    def n_parameters(self, part: str | None = None) -> int:
        mod = self if part is None else getattr(self, part)
        return sum(p.numel() for p in mod.parameters())


# ----------------------------------------------------------------------------- running it
def loss_function(binary: bool):
    """The paper's loss: sigmoid + binary cross-entropy on one-hot labels, or mean squared error."""
    if binary:
        bce = nn.BCEWithLogitsLoss()  # sigmoid + binary cross-entropy on one-hot labels
        return lambda out, y: bce(out, y)
    mse = nn.MSELoss()
    return lambda out, y: mse(out, y)


def autocast(device: str):
    """bfloat16 autocast on CUDA; full precision on CPU."""
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def to_device(batch: dict, device: str) -> dict:
    """A batch's tensors on ``device`` (its ids stay as they are)."""
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
