"""The training engine: every rule of SPEC, resume, clear errors, predict."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import interrupt_in_third_epoch

from legibility.cli import main
from legibility.data.cache import build_cache
from legibility.data.layout import load_dataset
from legibility.data.model_data import epoch_order
from legibility.errors import LegibilityError
from legibility.study import TARGETS, metadata_columns, resolve_inputs
from legibility.train import TrainConfig, model_data, train_model
from legibility.transforms import TargetTransform


@pytest.fixture(scope="module")
def cache(tiny_cohort):
    return build_cache(load_dataset(tiny_cohort), 32, progress=False)


def cfg(**kw):
    base = dict(target="age", inputs=("t1", "flair"), epochs=3, batch_size=8, progress=False, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def test_leakage_rule_zeroes_own_domain_and_drops_target(cache):
    c = cfg(target="hb", inputs=("metadata",), metadata_blocks=("constitutional", "serology", "disease"))
    with pytest.warns(UserWarning, match="own domain"):
        tgt, inputs = resolve_inputs(c.target, c.inputs, c.metadata_blocks)
    assert inputs.blocks == {"constitutional", "disease"}
    data = model_data(cache, c, tgt, inputs)
    cols = metadata_columns(tgt)
    assert "hb" not in cols
    assert len(cols) == 24
    meta = data.meta
    for j, col in enumerate(cols):
        if TARGETS[col].domain in ("serology", "psychology"):
            assert np.all(meta[:, j] == 0), col
        else:
            assert np.any(meta[:, j] != 0), col


def test_metadata_normaliser_fitted_on_train_only(cache):
    tgt, inputs = resolve_inputs("hb", ("metadata",), ("constitutional",))
    data = model_data(cache, cfg(target="hb"), tgt, inputs)
    age = metadata_columns(tgt).index("age")
    train = data.rows["train"]
    assert data.meta[train, age].mean() == pytest.approx(0, abs=1e-6)
    assert data.meta[train, age].std() == pytest.approx(1, abs=1e-6)
    sex = metadata_columns(tgt).index("sex")
    assert set(np.unique(data.meta[:, sex])) <= {0.0, 1.0}  # binary stays 0/1


def test_undersampling_balances_each_epoch():
    y = np.array([1] * 30 + [0] * 70)
    a = epoch_order(y, True, np.random.default_rng(0))
    b = epoch_order(y, True, np.random.default_rng(1))
    assert len(a) == 60
    assert y[a].sum() == 30
    assert set(a) != set(b)  # a fresh random majority subset every epoch
    assert len(epoch_order(y.astype(float), False, np.random.default_rng(0))) == 100


def test_target_transform_and_exact_inverse():
    y = np.random.default_rng(0).lognormal(4, 0.5, 500)
    t = TargetTransform().fit(y)
    s = t.transform(y)
    assert s.min() == pytest.approx(-1)
    assert s.max() == pytest.approx(1)
    inside = (y >= t.lo) & (y <= t.hi)
    np.testing.assert_allclose(t.inverse_transform(s)[inside], y[inside], rtol=1e-10)
    assert np.all(t.inverse_transform(s)[~inside] != y[~inside])  # the clamp is the only loss
    t2 = TargetTransform(**t.state())
    np.testing.assert_allclose(t2.inverse_transform(s), t.inverse_transform(s))


def test_trains_and_writes_outputs(cache, tmp_path):
    row = train_model(cache, cfg(target="sex", inputs=("t1", "flair", "connectivity")), tmp_path)
    out = tmp_path / "sex__t1-flair-connectivity"
    for f in ("metrics.csv", "training_progress.csv", "best_model.pt", "last.pt",
              "training_curves.png", "confusion_matrix.png"):
        assert (out / f).exists(), f
    m = pd.read_csv(out / "metrics.csv")
    assert m.Mode.tolist() == ["Validation", "Test"]
    assert m.Target.iloc[0] == "Sex (Male)"
    assert m.Inputs.iloc[0] == "rsfMRI Connectivity + FLAIR + T1"
    assert {"n", "ci_metric", "ci_low", "ci_high", "seed", "device", "linear_balanced_accuracy",
            "linear_r2", "linear_mae"} <= set(m.columns)
    assert (m.r2 == 0).all()
    test_row = m[m.Mode == "Test"].iloc[0]
    assert row["Balanced accuracy"] == pytest.approx(test_row["Balanced accuracy"])  # the returned row is the test one
    assert test_row.ci_low <= test_row["Balanced accuracy"] <= test_row.ci_high
    assert test_row.n == int((cache.table.split == "test").sum())
    state = torch.load(out / "best_model.pt", weights_only=True)
    assert {"model", "model_config", "target_transform", "metadata_normaliser", "voxel_standardiser"} <= set(state)


def test_continuous_metrics_in_original_units(cache, tmp_path):
    train_model(cache, cfg(), tmp_path)
    out = tmp_path / "age__t1-flair"
    preds = pd.read_csv(out / "test_predictions.csv")
    assert preds.prediction.between(30, 100).all()  # years, not the [-1, 1] training scale
    m = pd.read_csv(out / "metrics.csv").iloc[1]
    assert pytest.approx(np.abs(preds.truth - preds.prediction).mean()) == m.MAE
    assert (out / "predicted_vs_true.png").exists()


def test_same_seed_same_metrics(cache, tmp_path):
    a = train_model(cache, cfg(epochs=2), tmp_path / "a")
    b = train_model(cache, cfg(epochs=2), tmp_path / "b")
    for k in ("r2", "MAE", "Loss"):
        assert a[k] == b[k]


def test_killed_mid_epoch_then_restored_equals_uninterrupted(cache, tmp_path, monkeypatch):
    full = train_model(cache, cfg(epochs=4), tmp_path / "full")

    interrupt_in_third_epoch(cache, cfg(epochs=4), tmp_path / "resumed", monkeypatch)
    resumed = train_model(cache, cfg(epochs=4), tmp_path / "resumed", restore=True)
    for k in ("r2", "MAE", "Loss", "Balanced accuracy"):
        assert resumed[k] == pytest.approx(full[k], abs=1e-6), k
    hist = pd.read_csv(tmp_path / "resumed" / "age__t1-flair" / "training_progress.csv")
    assert hist.epoch.tolist() == [0, 1, 2, 3]


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(("damaged", "restart"), [
    (("last.pt",), "from {best} (epoch"),
    (("last.pt", "best_model.pt"), "from scratch (no whole best_model.pt"),
    (("best_model.pt",), "from scratch (its best weights are lost)"),
])
def test_a_damaged_checkpoint_is_named_and_the_model_restarts_saying_from_where(cache, tmp_path, monkeypatch,
                                                                                 capsys, damaged, restart):
    interrupt_in_third_epoch(cache, cfg(epochs=4), tmp_path, monkeypatch)
    folder = tmp_path / "age__t1-flair"
    for name in damaged:
        truncate(folder / name)
    capsys.readouterr()
    row = train_model(cache, cfg(epochs=4), tmp_path, restore=True)
    err = capsys.readouterr().err
    assert f"Checkpoint {folder / damaged[0]} is corrupt" in err
    assert f"model age__t1-flair restarts {restart.format(best=folder / 'best_model.pt')}" in err
    assert np.isfinite(row["MAE"])
    assert pd.read_csv(folder / "training_progress.csv").epoch.tolist() == [0, 1, 2, 3]
    assert (folder / "done.json").exists()


def test_a_shuffled_images_checkpoint_is_never_resumed_as_a_real_one(cache, tmp_path, monkeypatch):
    interrupt_in_third_epoch(cache, cfg(epochs=4, shuffle_images=True), tmp_path, monkeypatch)
    with pytest.raises(LegibilityError, match=r"last.pt of model age__t1-flair belongs to another run: "
                                              r"shuffle_images True \(now False\)"):
        train_model(cache, cfg(epochs=4), tmp_path, restore=True)
    train_model(cache, cfg(epochs=4, shuffle_images=True), tmp_path, restore=True)  # its own run resumes


def test_the_identity_leaves_out_where_a_model_runs_and_records_the_side_it_is_built_at(cache, tmp_path):
    from legibility.train import model_identity

    here, there = cfg(device="cpu", num_workers=0), cfg(device="cuda:1", num_workers=4, progress=True)
    assert model_identity(here, 32) == model_identity(there, 32)
    for field in ("shuffle_images", "voxel_standardise", "patience"):
        assert field in model_identity(here, 32)
    train_model(cache, cfg(epochs=1, side=64), tmp_path)  # the cache is at 32: the model is built at 32
    done = json.loads((tmp_path / "age__t1-flair" / "done.json").read_text())
    assert done["settings"] == model_identity(cfg(epochs=1, side=64), 32)
    assert done["settings"]["side"] == 32


def test_mismatched_checkpoint_is_refused(cache, tmp_path):
    train_model(cache, cfg(epochs=1), tmp_path)
    with pytest.raises(LegibilityError, match="belongs to another run"):
        train_model(cache, cfg(epochs=2, seed=5), tmp_path, restore=True)


@pytest.mark.parametrize(("kw", "message"), [
    ({"target": "agee"}, "Did you mean 'age'"),
    ({"inputs": ("t2",)}, "valid inputs: t1, flair, dwi, connectivity, metadata"),
    ({"target": "age", "inputs": ("metadata",), "metadata_blocks": ("constitutional",)}, "No inputs left"),
])
@pytest.mark.filterwarnings("ignore:the constitutional block")
def test_clear_errors(kw, message):
    c = cfg(**kw)
    with pytest.raises((KeyError, ValueError), match=message):
        resolve_inputs(c.target, c.inputs, c.metadata_blocks)


def test_diagnostic_mode_runs_on_constant_inputs(cache, tmp_path):
    row = train_model(cache, cfg(diagnostic=True, epochs=1), tmp_path)
    assert np.isfinite(row["Loss"])


def test_train_and_predict_commands(tiny_cohort, tmp_path, capsys):
    assert main(["train", "--inpath", str(tiny_cohort), "--outpath", str(tmp_path), "--target", "hb",
                 "--inputs", "dwi", "metadata", "--metadata_blocks", "constitutional", "disease",
                 "--epochs", "2", "--batch_size", "8"]) == 0
    assert "Hb from DWI + Non-imaging data (C + D)" in capsys.readouterr().out
    model = tmp_path / "hb__dwi__meta-c-d"
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model), "--inpath", str(tiny_cohort), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 40
    assert pred.hb_predicted.between(5, 25).all()


def test_predict_refuses_data_lacking_an_input(tiny_cohort, tmp_path):
    import shutil

    from legibility import paths

    train_model(build_cache(load_dataset(tiny_cohort), 32, progress=False),
                cfg(target="sex", inputs=("connectivity",), epochs=1), tmp_path / "m")
    data = tmp_path / "noconn"
    shutil.copytree(tiny_cohort, data, ignore=shutil.ignore_patterns("_cache"))
    for folder in ("TRAIN", "TEST"):
        for p in paths.fmri_paths(data, folder):
            p.unlink()
    assert main(["predict", "--model", str(tmp_path / "m" / "sex__connectivity"), "--inpath", str(data),
                 "--out", str(tmp_path / "p.csv")]) == 2


def test_augmentations_are_small_seeded_and_keep_shape():
    from legibility.data.model_data import Augmenter

    g = torch.linspace(-1, 1, 32)
    blob = torch.exp(-(g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) / 0.3)
    x = blob.expand(4, 3, 32, 32, 32).clone()  # smooth, like anatomy
    aug = Augmenter(p=1.0)
    a = aug(x, np.random.default_rng(0))
    b = aug(x, np.random.default_rng(0))
    assert a.shape == x.shape
    assert torch.equal(a, b)  # same generator, same augmentation
    assert float((a - x).abs().mean()) > 0
    for i in range(4):  # small: the augmented volume still looks like the original
        assert float(torch.corrcoef(torch.stack([a[i].flatten(), x[i].flatten()]))[0, 1]) > 0.9
    assert torch.equal(Augmenter(p=0.0)(x, np.random.default_rng(0)), x)  # off: untouched


def test_augmentations_in_concurrent_loader_threads_are_those_of_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    from legibility.data.model_data import Augmenter

    g = torch.linspace(-1, 1, 16)
    x = torch.exp(-(g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) / 0.3)
    x = x.expand(2, 3, 16, 16, 16).clone()
    aug = Augmenter(p=1.0)
    alone = [aug(x, np.random.default_rng(seed)) for seed in range(12)]
    with ThreadPoolExecutor(6) as pool:  # as the loader's threads share one Augmenter
        together = list(pool.map(lambda seed: aug(x, np.random.default_rng(seed)), list(range(12)) * 3))
    for i, out in enumerate(together):
        assert torch.equal(out, alone[i % 12]), f"seed {i % 12} augmented differently in a thread"


def test_loader_workers_do_not_change_results(cache, tmp_path):
    a = train_model(cache, cfg(epochs=2), tmp_path / "a")
    b = train_model(cache, cfg(epochs=2, num_workers=2), tmp_path / "b")
    assert a["r2"] == b["r2"]
    assert a["Loss"] == b["Loss"]


def test_linear_peer_fits_at_most_its_cap_of_training_participants(cache, monkeypatch):
    import legibility.linear as linear

    tgt, inputs = resolve_inputs("age", ("connectivity",))
    data = model_data(cache, cfg(inputs=("connectivity",)), tgt, inputs)
    seen = []
    real = linear.linear_features
    monkeypatch.setattr(linear, "linear_features", lambda d, rows: seen.append(len(rows)) or real(d, rows))
    monkeypatch.setattr(linear, "PEER_MAX_TRAIN", 10)
    out = linear.linear_peer(data)
    assert seen[0] == 10 < len(data.rows["train"])
    assert seen[1:] == [len(data.rows["val"]), len(data.rows["test"])]
    assert np.isfinite(out["test"]["r2"])


def test_paper_preset_keeps_the_papers_rules_and_cpu_its_recipe():
    from legibility.train import TrainConfig, learning_rate

    paper = TrainConfig(target="age", inputs=("t1",), preset="paper", epochs=10)
    assert (paper.lr, paper.batch_size, paper.weight_decay, paper.schedule, paper.ema, paper.augment) == \
        (1e-4, 64, 0.0, "constant", 0.0, True)
    assert {learning_rate(paper, e) for e in (0, 0.5, 5, 9.9)} == {1e-4}
    cpu = TrainConfig(target="age", inputs=("t1",), preset="cpu", epochs=10)
    assert (cpu.weight_decay > 0, cpu.ema > 0, cpu.schedule) == (True, True, "cosine")
    lrs = [learning_rate(cpu, e) for e in (0, 0.5, 1, 5.5, 10)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(cpu.lr)  # warm-up, then the peak
    assert lrs[2] > lrs[3] > lrs[4] == pytest.approx(0.0)  # cosine down to 0
    with pytest.raises(ValueError, match="schedule must be"):
        TrainConfig(target="age", inputs=("t1",), schedule="linear")


def test_shuffled_control_pairs_train_and_val_images_with_others_and_leaves_test_alone(cache):
    data = model_data(cache, cfg(shuffle_images=True))
    for split in ("train", "val"):
        rows = data.rows[split]
        src = data.source[rows]
        assert sorted(src) == sorted(rows)  # a permutation within the split
        assert (src != rows).any()
    test = data.rows["test"]
    assert np.array_equal(data.source[test], test)
    got = data.batch(test[:3])["volumes"]
    own = model_data(cache, cfg()).batch(test[:3])["volumes"]
    torch.testing.assert_close(got, own)


def test_the_linear_path_learns_at_its_own_rate(cache, tmp_path):
    from legibility.model import FusedModel, preset
    from legibility.train import _optimiser

    c = cfg()
    model = FusedModel(preset("cpu", in_channels=2, linear_path=True, linear_path_lr=0.25))
    opt = _optimiser(model, c)
    scales = [g["lr_scale"] for g in opt.param_groups]
    assert scales == [1.0, 0.25]
    assert opt.param_groups[1]["params"] == [model.linear_path.weight, model.linear_path.bias]
    # training applies the scale at every step: the path's last rate is a quarter of the network's
    train_model(cache, cfg(epochs=2, model={"linear_path": True, "linear_path_lr": 0.25}), tmp_path)
    last = torch.load(next(tmp_path.glob("*/last.pt")), weights_only=True)["optimizer"]["param_groups"]
    assert last[0]["lr"] > 0
    assert last[1]["lr"] == pytest.approx(0.25 * last[0]["lr"])
    no_path = _optimiser(FusedModel(preset("cpu", in_channels=2, linear_path=False)), c)
    assert [g["lr_scale"] for g in no_path.param_groups] == [1.0]


@pytest.mark.parametrize("target", ["age", "sex"])
def test_a_peer_started_model_predicts_as_its_linear_peer_before_training(cache, target):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import balanced_accuracy_score, r2_score

    from legibility.linear import start_linear_path
    from legibility.model import FusedModel, preset

    data = model_data(cache, cfg(target=target))
    model = FusedModel(preset("cpu", side=32, in_channels=2, n_outputs=2 if target == "sex" else 1,
                              linear_path=True, linear_path_start="peer"))
    before = model.linear_path.weight.clone()
    start_linear_path(model, data)
    assert not torch.equal(model.linear_path.weight, before)
    model.eval()

    def voxels(rows):
        return model.volumes.inpool(data.batch(rows)["volumes"]).flatten(1).double().numpy()

    tr, va = data.rows["train"], data.rows["val"]
    x_tr, x_va = voxels(tr), voxels(va)
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    z_tr, z_va = (x_tr - mu) / sd, (x_va - mu) / sd
    with torch.no_grad():
        out = model(data.batch(va)).double().numpy()
    if target == "sex":  # the class-balanced logistic regression of the best C on validation
        fits = [LogisticRegression(C=c, class_weight="balanced", max_iter=300).fit(z_tr, data.y[tr])
                for c in (1e-4, 1e-3, 1e-2, 1e-1)]
        best = max(fits, key=lambda m: balanced_accuracy_score(data.y[va], m.predict(z_va)))
        np.testing.assert_allclose(out[:, 1], best.decision_function(z_va), atol=1e-3)
        np.testing.assert_allclose(out[:, 0], -out[:, 1], atol=1e-6)
    else:  # the ridge on the transformed target of the best alpha on validation
        y_tr, y_va = data.target_values(tr)[:, 0], data.target_values(va)[:, 0]
        fits = [Ridge(alpha=a).fit(z_tr, y_tr) for a in (1e0, 1e1, 1e2, 1e3, 1e4, 1e5)]
        best = max(fits, key=lambda m: r2_score(y_va, m.predict(z_va)))
        np.testing.assert_allclose(out[:, 0], best.predict(z_va), atol=1e-3)


def test_training_from_the_peer_start_keeps_its_setting(cache, tmp_path):
    row = train_model(cache, cfg(epochs=2, model={"linear_path": True, "linear_path_start": "peer"}), tmp_path)
    assert np.isfinite(row["r2"])
    done = json.loads(next(tmp_path.glob("*/done.json")).read_text())
    assert done["settings"]["model"]["linear_path_start"] == "peer"
    with pytest.raises(ValueError, match="linear_path_start"):
        train_model(cache, cfg(epochs=1, model={"linear_path": True, "linear_path_start": "ridge"}),
                    tmp_path / "bad")


def test_gradient_clipping_bounds_every_step_and_is_part_of_the_identity(cache, tmp_path, monkeypatch):
    from legibility.train import model_identity

    norms = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    settings = dict(target="hb", inputs=("metadata",), epochs=1)
    train_model(cache, cfg(**settings, grad_clip=0.0), tmp_path / "off")
    unclipped, norms[:] = list(norms), []
    train_model(cache, cfg(**settings, grad_clip=0.05), tmp_path / "on")
    assert len(norms) == len(unclipped) > 1
    assert max(unclipped) > 0.05  # the clip bites ...
    assert max(norms) <= 0.05 * (1 + 1e-4)  # ... on every step
    assert "grad_clip" not in model_identity(cfg(grad_clip=0.0), 32)  # off reads as a model trained without it
    assert model_identity(cfg(grad_clip=0.05), 32)["grad_clip"] == 0.05
    assert TrainConfig(target="age", inputs=("t1",), preset="paper").grad_clip == 0.0
