"""An SFCN-like network (Peng et al. 2021, the brain-age network) built from MONAI blocks, for
``legibility train --network examples/sfcn.py:SFCN``.

Blocks of 3x3x3 convolution, batch norm and ReLU, each followed by 2x max pooling; then a 1x1x1
block, global average pooling, dropout and a linear layer to the outputs. Connectivity and
metadata, when the input set has them, enter through a linear layer each, added to the output.

    legibility train --inpath DATA --target age --inputs t1 flair --network examples/sfcn.py:SFCN
    legibility train ... --network examples/sfcn.py:SFCN --network_args '{"channels": [16, 32, 64, 32]}'
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import nn

from legibility.user_network import NetworkSpec


class SFCN(nn.Module):
    """``channels``: one pooled block each but the last, which is the 1x1x1 block. The paper's
    SFCN at 160x192x160 has (32, 64, 128, 256, 256, 64); at 32^3 four pooled blocks leave 2^3."""

    def __init__(self, spec: NetworkSpec, channels=(32, 64, 128, 256, 64), dropout: float = 0.5):
        super().__init__()
        layers, c_in = [], len(spec.channels)
        for c in channels[:-1] if spec.channels else ():
            layers += [Convolution(3, c_in, c, kernel_size=3, norm="batch", act="relu"), nn.MaxPool3d(2)]
            c_in = c
        if spec.channels:
            layers.append(Convolution(3, c_in, channels[-1], kernel_size=1, norm="batch", act="relu"))
        self.features = nn.Sequential(*layers) if layers else None
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels[-1], spec.n_outputs)) if layers else None
        self.extra = nn.ModuleDict({key: nn.Linear(width, spec.n_outputs)
                                    for key, width in (("connectivity", spec.n_edges), ("metadata", spec.n_metadata))
                                    if width})
        if self.features is None and not self.extra:
            raise ValueError("SFCN needs volumes, connectivity or metadata among the inputs.")

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.features is not None:
            parts.append(self.head(self.features(batch["volumes"]).mean(dim=(2, 3, 4))))
        parts += [layer(batch[key]) for key, layer in self.extra.items()]
        return torch.stack(parts).sum(0)
