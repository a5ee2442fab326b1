"""The input normalisers, on arrays whose answers are known by hand."""

import numpy as np
import torch

from legibility.transforms import VoxelStandardiser


def _heads(n=40, side=4, seed=0):
    """Training heads on [-1, 1]: background (-1) at the corner voxel in all but one head."""
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, (n, side, side, side)).astype(np.float32)
    x[:, 0, 0, 0] = -1.0
    x[3, 0, 0, 0] = -0.9  # one training head reaches the corner
    return x


def test_a_head_beyond_the_training_range_is_clipped_to_it():
    train = _heads()
    std = VoxelStandardiser().fit([train], np.arange(len(train)))
    z_train = std(torch.from_numpy(train[:, None]))
    new = torch.from_numpy(_heads(seed=1)[:2, None].copy())
    new[0, 0, 0, 0, 0] = 0.6  # brain where training had (almost) only background
    new[1, 0, 1, 1, 1] = 0.9  # brighter than any training head at an ordinary voxel
    z = std(new)
    assert z[0, 0, 0, 0, 0] == z_train[3, 0, 0, 0, 0]  # the most any training head showed, not (0.6 + 1) / 0.05
    assert z[1, 0, 1, 1, 1] == z_train[:, 0, 1, 1, 1].max()
    inside = new[1, 0, 2, 2, 2]
    assert torch.isclose(z[1, 0, 2, 2, 2], (inside - std.mean[0, 2, 2, 2]) / std.sd[0, 2, 2, 2])
    assert float(z.abs().max()) <= float(z_train.abs().max()) + 1e-5


def test_state_round_trip_and_a_state_without_the_range():
    train = _heads()
    std = VoxelStandardiser().fit([train], np.arange(len(train)))
    again = VoxelStandardiser.from_state(std.state())
    head = torch.full((1, 1, 4, 4, 4), 0.7)
    assert torch.equal(again(head), std(head))
    older = VoxelStandardiser.from_state({"mean": std.mean, "sd": std.sd})  # a checkpoint that kept no range
    assert older(head)[0, 0, 0, 0, 0] > 30  # unclipped: (0.7 + 1) / 0.05 = 34
