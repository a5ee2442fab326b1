"""The fused model: the paper's sizes, zeros for unused branches, frozen unused parameters."""

import pytest
import torch

from legibility.model import FusedModel, preset


def test_paper_preset_sizes_match_spec():
    m = FusedModel(preset("paper", use_connectivity=True, use_metadata=True))
    assert m.n_parameters("volumes") == pytest.approx(7.4e6, rel=0.02)
    assert m.connectivity[0].weight.numel() == 64_620 * 128
    assert m.n_parameters() == pytest.approx(16e6, rel=0.03)
    m128 = FusedModel(preset("paper", side=128))
    assert len(m128.volumes.blocks) == 6
    assert m128.cfg.cnn_dense == 256


@pytest.mark.parametrize("use", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)])
def test_every_branch_combination_runs(use):
    cfg = preset("cpu", use_volumes=bool(use[0]), use_connectivity=bool(use[1]), use_metadata=bool(use[2]),
                 n_edges=45, n_outputs=2)
    m = FusedModel(cfg).eval()
    b = {"volumes": torch.randn(3, 3, 32, 32, 32), "connectivity": torch.randn(3, 45), "metadata": torch.randn(3, 24)}
    assert m(b).shape == (3, 2)


def test_unused_branches_get_no_gradient_and_do_not_change():
    torch.manual_seed(0)
    cfg = preset("cpu", use_volumes=False, use_connectivity=True, use_metadata=True, n_edges=45)
    m = FusedModel(cfg)
    frozen = {n: p.detach().clone() for n, p in m.named_parameters() if n.startswith("volumes.")}
    trainable = {id(p) for _, p in m.trainable()}
    assert not any(id(p) in trainable for n, p in m.named_parameters() if n.startswith("volumes."))
    opt = torch.optim.Adam([p for _, p in m.trainable()], lr=1e-2)
    b = {"connectivity": torch.randn(8, 45), "metadata": torch.randn(8, 24)}
    for _ in range(3):
        loss = m(b).pow(2).mean() + m.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, p in m.named_parameters():
        if n.startswith("volumes."):
            assert p.grad is None, n
            assert torch.equal(p.detach(), frozen[n]), n
    assert m.connectivity[0].weight.grad is not None


def test_penalty_is_mean_square_with_connectivity_exception():
    cfg = preset("cpu", use_volumes=False, use_connectivity=True, use_metadata=False, n_edges=45)
    m = FusedModel(cfg)
    expected = 0.0
    first = m.connectivity[0].weight
    for name, p in m.trainable():
        if name.endswith("bias") or p.ndim < 2:
            continue
        expected += (1e-3 if p is first else 1e-4) * float(p.pow(2).mean())
    assert float(m.penalty()) == pytest.approx(expected, rel=1e-5)


def test_no_input_is_an_error():
    with pytest.raises(ValueError, match="at least one input"):
        FusedModel(preset("cpu", use_volumes=False))


def test_unknown_preset_lists_valid():
    with pytest.raises(KeyError, match="valid presets: paper, cpu"):
        preset("gpu")


def test_linear_path_starts_at_zero_and_holds_a_linear_model_of_the_pooled_voxels():
    x = {"volumes": torch.randn(4, 2, 32, 32, 32)}
    torch.manual_seed(0)
    plain = FusedModel(preset("cpu", in_channels=2, linear_path=False)).eval()
    torch.manual_seed(0)
    wide = FusedModel(preset("cpu", in_channels=2, linear_path=True, linear_path_start="zero")).eval()
    assert wide.linear_path.in_features == 2 * 16**3  # the cpu preset pools 32^3 to 16^3
    assert torch.equal(plain(x), wide(x))  # at zero, the path changes nothing
    # started from the peer (the cpu preset's default), the network's own output starts at zero and
    # the whole output is the path's, until start_linear_path fits it
    peer = FusedModel(preset("cpu", in_channels=2)).eval()
    assert peer.cfg.linear_path_start == "peer"
    assert torch.equal(peer(x), torch.zeros(4, 1))
    assert "linear_path.weight" in {n for n, _ in wide.trainable()}
    # the deep part silenced, the network is exactly a linear model of the pooled voxels
    torch.nn.init.zeros_(wide.head[-1].weight)
    torch.nn.init.zeros_(wide.head[-1].bias)
    w = torch.randn(1, 2 * 16**3)
    wide.linear_path.weight.data.copy_(w)
    pooled = torch.nn.functional.avg_pool3d(x["volumes"], 2).flatten(1)
    torch.testing.assert_close(wide(x), pooled @ w.T, rtol=1e-5, atol=1e-4)
    # no volumes, no path
    assert FusedModel(preset("cpu", use_volumes=False, use_metadata=True, linear_path=True)).linear_path is None
