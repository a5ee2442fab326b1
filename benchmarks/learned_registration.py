"""A network that learns to register, and a linear read-out of what it measures.

``registration_features.py`` registers each head by gradient descent on that head alone. Here a
convolutional network learns the mapping instead (amortised registration, as in VoxelMorph):
from a head's z-scored T1 at 16^3 it predicts an affine and a displacement field on an 8^3
lattice, trained on the training heads to minimise the same loss (mean squared difference
from a template, plus the same smoothness penalty). It never sees a target. The template is
learned with it: the plain mean of 1,000 training heads first, then the mean of those heads as
the network registers them, and the network is trained on.

What it measures is read as in ``registration_features.py``: the T1 and FLAIR resampled into
the template's space and the log-Jacobian of the mapping, each at 16^3, into a ridge (penalty
by generalised cross-validation on the training rows). The baseline is the same ridge on the
z-scored T1 and FLAIR at 16^3; the difference's SE is a paired bootstrap over the scored
participants. Epochs are chosen on the registration loss of the validation heads (no labels).

Usage::

    python benchmarks/learned_registration.py --cache CACHE_DIR --split val --record NAME

appends a row to ``benchmarks/results/learned_registration.csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import r2_score
from torch import nn

from legibility.data.cache import Cache

sys.path.insert(0, str(Path(__file__).resolve().parent))
import registration_features as rf  # noqa: E402


class RegistrationNet(nn.Module):
    """A head at 16^3 in; an affine (3 x 4) and a displacement field (3 x ctrl^3) out, in the
    units of ``registration_features.sampling_grid``. Both start at zero: the identity."""

    def __init__(self, width: int = 16, ctrl: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(2, width, 3, padding=1), nn.GELU(),
            nn.Conv3d(width, 2 * width, 3, padding=1, stride=2), nn.GELU(),  # 16^3 -> 8^3
            nn.Conv3d(2 * width, 2 * width, 3, padding=1), nn.GELU(),
            nn.Conv3d(2 * width, 2 * width, 3, padding=1), nn.GELU())
        self.field = nn.Conv3d(2 * width, 3, 3, padding=1)
        self.affine = nn.Linear(2 * width, 12)
        self.ctrl = ctrl
        for layer in (self.field, self.affine):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, template: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([x, template.expand_as(x)], dim=1))
        field = F.interpolate(self.field(h), size=(self.ctrl,) * 3, mode="trilinear", align_corners=True)
        return self.affine(h.mean(dim=(2, 3, 4))).view(-1, 3, 4), field


def loss_of(net, x, template, smooth: float = 0.05) -> torch.Tensor:
    affine, field = net(x, template)
    warped = F.grid_sample(x, rf.sampling_grid(affine, field, x.shape[-1]), align_corners=True,
                           padding_mode="border")
    rough = sum((field.diff(dim=k) ** 2).mean() for k in (2, 3, 4))
    return ((warped - template) ** 2).mean() + smooth * ((field ** 2).mean() + rough)


@torch.no_grad()
def grids_of(net, x, template, batch: int = 256) -> torch.Tensor:
    net.eval()
    out = [rf.sampling_grid(*net(x[s:s + batch], template), x.shape[-1]) for s in range(0, len(x), batch)]
    return torch.cat(out)


def train_registration(x: torch.Tensor, fit: np.ndarray, check: np.ndarray, epochs: int, lr: float = 2e-3,
                       batch: int = 32, log=print) -> tuple[RegistrationNet, torch.Tensor, list[dict]]:
    """The network and its template, trained on the heads ``fit``; the epoch kept is the one with
    the lowest registration loss on the heads ``check``."""
    torch.manual_seed(0)
    net = RegistrationNet()
    first = torch.tensor(fit[:1000])
    template = x[first].mean(0, keepdim=True)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    best, state, history = np.inf, None, []
    for epoch in range(epochs):
        if epoch == epochs // 3:  # the template: the first heads' mean as the network registers them
            template = F.grid_sample(x[first], grids_of(net, x[first], template), align_corners=True,
                                     padding_mode="border").mean(0, keepdim=True)
            best = np.inf
        net.train()
        t0, losses, order = time.perf_counter(), [], rng.permutation(fit)
        for s in range(0, len(fit), batch):
            rows = torch.tensor(order[s:s + batch])
            loss = loss_of(net, x[rows], template)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        net.eval()
        with torch.no_grad():
            val = float(np.mean([float(loss_of(net, x[torch.tensor(check[s:s + 256])], template))
                                 for s in range(0, len(check), 256)]))
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "check_loss": val,
                        "seconds": time.perf_counter() - t0})
        log(history[-1])
        if val < best:
            best, state = val, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    return net, template, history


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="a side-32 cache folder (<data>/_cache/side32-...)")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--target", default="age")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--record", default="", help="a name for the row")
    args = ap.parse_args()
    cache = Cache.open(args.cache)
    split = cache.table["split"].to_numpy()
    rows = np.flatnonzero(np.isin(split, ["train", "val", args.split]))
    fit = np.flatnonzero(split[rows] == "train")
    check = np.flatnonzero(split[rows] == "val")
    score = np.flatnonzero(split[rows] == args.split)
    y = cache.table[args.target].to_numpy(float)[rows]
    t0 = time.perf_counter()
    t1 = rf.zscore_volumes(np.asarray(cache.volume_array("t1")[rows], np.float32))
    flair = rf.zscore_volumes(np.asarray(cache.volume_array("flair")[rows], np.float32))
    x = F.avg_pool3d(torch.tensor(t1)[:, None], 2)
    xf = F.avg_pool3d(torch.tensor(flair)[:, None], 2)
    net, template, history = train_registration(x, fit, check, args.epochs)
    grids = grids_of(net, x, template)
    register_s = time.perf_counter() - t0
    flat = lambda t: t.reshape(len(t), -1).numpy()  # noqa: E731
    warped = [flat(F.grid_sample(v, grids, align_corners=True, padding_mode="border")) for v in (x, xf)]
    logj = flat(rf.log_jacobian(grids))
    base_pred, base_alpha = rf.ridge_predict([flat(x), flat(xf)], y, fit, score)
    front_pred, front_alpha = rf.ridge_predict(warped + [logj], y, fit, score)
    base, front = r2_score(y[score], base_pred), r2_score(y[score], front_pred)
    best = min(history, key=lambda h: h["check_loss"])
    row = {"record": args.record, "cohort": str(args.cache), "target": args.target, "split": args.split,
           "n_fit": len(fit), "n_scored": len(score), "epochs": args.epochs, "best_epoch": best["epoch"],
           "check_loss": best["check_loss"], "ridge_voxels_r2": base, "ridge_learned_registration_r2": front,
           "difference": front - base, "difference_se": rf.paired_se(y[score], base_pred, front_pred),
           "alpha_voxels": base_alpha, "alpha_registered": front_alpha, "train_s": register_s}
    rf.record_row("learned_registration", row)


if __name__ == "__main__":
    main()
