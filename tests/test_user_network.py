"""Bring your own network: a class named on the command line trains, resumes and predicts under
the engine's rules; a bad class path or a wrong output shape is one clear line."""

import json
import re

import pytest
import torch
from conftest import ROOT, interrupt_in_third_epoch

from legibility.cli import main
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.errors import LegibilityError
from legibility.evaluation import predict_rows
from legibility.metrics import score_binary
from legibility.predict import load_predictor
from legibility.train import TrainConfig, model_data, train_model

SFCN = f"{ROOT / 'examples' / 'sfcn.py'}:SFCN"
SMALL = {"channels": [4, 8, 8], "dropout": 0.0}


@pytest.fixture(scope="module")
def cache(tiny_cohort):
    return build_cache(load_dataset(tiny_cohort), 32, progress=False)


def cfg(**kw):
    base = dict(target="sex", inputs=("t1", "flair", "metadata"), metadata_blocks=("serology",), epochs=2,
                batch_size=8, progress=False, seed=1, network=SFCN, network_args=SMALL)
    return TrainConfig(**{**base, **kw})


def test_a_monai_network_trains_and_predict_rebuilds_it(cache, tmp_path):
    row = train_model(cache, cfg(), tmp_path)
    assert 0 <= row["Balanced accuracy"] <= 1
    folder = tmp_path / "sex__t1-flair__meta-s"
    done = json.loads((folder / "done.json").read_text())
    assert done["settings"]["network"] == {"user_network": SFCN, "args": SMALL}
    model, state = load_predictor(folder)  # weights_only=True: path, arguments, spec and weights
    assert state["user_network"]["spec"]["channels"] == ["flair", "t1"]
    assert state["user_network"]["spec"]["n_outputs"] == 2
    data = model_data(cache, cfg())
    rows = data.rows["test"]
    again, _ = predict_rows(model, data, rows)
    assert ((again >= 0) & (again <= 1)).all()  # probabilities of class 1
    # the rebuilt network scores the test set as the trained one did
    assert score_binary(data.y[rows], again)["Balanced accuracy"] == pytest.approx(row["Balanced accuracy"])


def test_a_network_of_ones_own_resumes_where_it_stopped(cache, tmp_path, monkeypatch):
    full = train_model(cache, cfg(epochs=3, target="age", inputs=("t1", "flair")), tmp_path / "full")
    interrupt_in_third_epoch(cache, cfg(epochs=3, target="age", inputs=("t1", "flair")), tmp_path / "resumed",
                             monkeypatch)
    resumed = train_model(cache, cfg(epochs=3, target="age", inputs=("t1", "flair")), tmp_path / "resumed",
                          restore=True)
    assert resumed["r2"] == pytest.approx(full["r2"], abs=1e-6)


def test_a_different_network_is_not_taken_for_the_fused_model(cache, tmp_path):
    train_model(cache, cfg(epochs=1, target="age", inputs=("t1", "flair")), tmp_path)
    with pytest.raises(LegibilityError, match="belongs to another run"):
        train_model(cache, cfg(epochs=1, target="age", inputs=("t1", "flair"), network=None, network_args={}),
                    tmp_path, restore=True)


class WrongShape(torch.nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def forward(self, batch):
        return self.w.expand(len(batch["target"]), 3)


@pytest.mark.parametrize(("network", "message"), [
    ("no_such_module_here:Net", "--network no_such_module_here:Net: cannot import no_such_module_here"),
    (f"{ROOT / 'examples' / 'sfcn.py'}:Missing", "has no 'Missing'; its networks: SFCN"),
    ("examples.sfcn", "give it as module:Name"),
    (f"{__file__}:WrongShape", r"returned \(2, 3\) for a batch of 2; expected a tensor of shape \(2, 1\)"),
])
def test_a_bad_network_is_one_clear_line(tiny_cohort, tmp_path, capsys, network, message):
    code = main(["train", "--inpath", str(tiny_cohort), "--target", "age", "--inputs", "t1", "flair",
                 "--epochs", "1", "--batch_size", "8", "--outpath", str(tmp_path), "--model", network])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert re.search(message, err), err
