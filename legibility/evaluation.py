"""Reading results beside the truth: a model's test score, its linear peer and its ceiling.

One model (:func:`evaluate_model`): its validation and test scores with bootstrap CIs, beside
its linear peer, written to its folder. The study:
the best input set of a target is chosen on validation scores and only then is its test score
read (:func:`best_models`); the choice is written to ``results/analysis/best_models.csv`` and
every summary, figure and the dashboard read it from there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from legibility import paths
from legibility.checkpoints import atomic_csv
from legibility.data.model_data import ModelData
from legibility.errors import LegibilityError
from legibility.metrics import bootstrap_ci, score_binary, score_continuous
from legibility.model import autocast, loss_function, to_device
from legibility.study import DOMAINS, METRIC_COLUMNS, target
from legibility.transforms import outputs_in_units

__all__ = ["BEST_COLUMNS", "CHANCE", "above_ceiling", "best_models", "ceiling", "evaluate_model",
           "model_beside_ceiling", "model_diagnostics", "model_metrics", "predict_rows", "reads_as_chance"]


# ----------------------------------------------------------------------------- one model
@torch.no_grad()
def predict_rows(model, data: ModelData, rows, device: str = "cpu", batch_size: int = 64) -> tuple[np.ndarray, float]:
    """The model's predictions for ``rows`` (probability of class 1, or values in the target's own
    units: :func:`~legibility.transforms.outputs_in_units`) and its mean loss on them."""
    model.eval()
    loss_fn = loss_function(data.tgt.is_binary)
    outs, losses = [], []
    for s in range(0, len(rows), batch_size):
        b = to_device(data.batch(rows[s:s + batch_size]), device)
        with autocast(device):
            out = model(b).float()
        losses.append(float(loss_fn(out, b["target"])) * len(out))
        outs.append(out.cpu().numpy())
    pred = outputs_in_units(np.concatenate(outs), data.tgt.is_binary, data.target_transform)
    return pred, sum(losses) / len(rows)


def model_metrics(data: ModelData, pred: np.ndarray, rows) -> dict:
    """The published metrics of ``pred`` (as :func:`predict_rows` gives them) on ``rows``."""
    y = data.y[rows]
    return score_binary(y, pred) if data.tgt.is_binary else score_continuous(y, pred, data.train_median)


def evaluate_model(model, data: ModelData, out: Path, minutes: float, device: str = "cpu", batch_size: int = 64,
                   seed: int = 0, history=None) -> dict:
    """Score a trained model on validation and test beside its linear peer, and write its folder:
    ``metrics.csv`` (the published table's columns, then bootstrap CIs, split sizes and the peer's
    scores), ``test_predictions.csv`` and its figures. Returns the test row."""
    from legibility.figures import save_figure
    from legibility.figures.training import plot_confusion, plot_curves, plot_scatter
    from legibility.linear import linear_peer

    tgt, inputs = data.tgt, data.inputs
    peer = linear_peer(data)
    rows = []
    for mode, split in (("Validation", "val"), ("Test", "test")):
        idx = data.rows[split]
        values, loss = predict_rows(model, data, idx, device, batch_size)
        m = model_metrics(data, values, idx)
        lo, hi = bootstrap_ci(data.y[idx], (values >= 0.5).astype(int) if tgt.is_binary else values,
                              tgt.metric_key, seed=seed)
        row = {"Mode": mode, "Target": tgt.display, "Inputs": inputs.label, **m,
               "Training time (mins)": minutes, "Loss": loss, **inputs.flags(),
               "Domain": DOMAINS[tgt.domain].name, "n": len(idx), "ci_metric": tgt.metric,
               "ci_low": lo, "ci_high": hi, "seed": seed, "device": device,
               **{f"n_{s}": len(data.rows[s]) for s in data.rows},
               **{f"n_left_out_{s}": n for s, n in data.left_out.items()},
               **{f"linear_{k}": v for k, v in peer[split].items()}}
        rows.append(row)
        if split == "test":
            test_pred = values
    table = pd.DataFrame(rows)
    extra = [c for c in table.columns if c not in METRIC_COLUMNS]
    table = table[list(METRIC_COLUMNS) + extra]
    atomic_csv(table, out / "metrics.csv")
    atomic_csv(pd.DataFrame({data.cache.id_name: data.cache.output_ids()[data.rows["test"]],
                             "truth": data.y[data.rows["test"]], "prediction": test_pred}),
               out / "test_predictions.csv")
    import matplotlib.pyplot as plt

    if history:
        fig = plot_curves(pd.DataFrame(history), title=f"{tgt.display} | {inputs.label}")
        save_figure(fig, "training_curves", out, formats=("png",))
        plt.close(fig)
    y = data.y[data.rows["test"]]
    fig = (plot_confusion(y, (test_pred >= 0.5).astype(int), tgt) if tgt.is_binary
           else plot_scatter(y, test_pred, tgt))
    save_figure(fig, "confusion_matrix" if tgt.is_binary else "predicted_vs_true", out, formats=("png",))
    plt.close(fig)
    return rows[-1]


# ----------------------------------------------------------------------------- the study
def model_beside_ceiling(data_path, row: dict) -> pd.DataFrame:
    """One small table: a model's test score (``row``, as :func:`evaluate_model` returns it), its
    linear peer's, and the ground-truth ceiling with its standard error of the same (target,
    input set) where the data are a synthetic cohort (NaN for other data)."""
    metric = target(row["Target"]).metric
    value, se = ceiling(data_path, row["Target"], row["Inputs"], metric)
    out = {"target": row["Target"], "inputs": row["Inputs"], "metric": metric,
           "deep model": row[metric], "95% CI": f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]",
           "linear peer": _linear(row), "ceiling": value, "ceiling SE": se}
    return pd.DataFrame([out])


def _ground_truth(data_path) -> pd.DataFrame | None:
    """A synthetic cohort's ``ground_truth.csv``; None for data without one."""
    gt = Path(data_path) / paths.GROUND_TRUTH if data_path else None
    return pd.read_csv(gt) if gt is not None and gt.exists() else None


def ceiling(data_path, target_name: str, inputs_label: str, metric: str | None = None) -> tuple[float, float]:
    """The ground-truth ceiling of one (target, input set) on a synthetic cohort and its standard error.

    Read from the cohort's ``ground_truth.csv`` (the grid's models), or computed the same way for
    an input set outside the grid (e.g. a psychology item from imaging alone).

    Parameters
    ----------
    data_path : path or None
        The dataset; one that is not a synthetic cohort has no ceiling.
    target_name, inputs_label : str
        As the published table writes them (``"Sex (Male)"``, ``"FLAIR + T1"``).
    metric : str, optional
        A metric column; default the target's main metric (:attr:`Target.metric`).

    Returns
    -------
    tuple of float
        ``(ceiling, standard error)``; ``(nan, nan)`` for data that are not synthetic, and a NaN
        SE from a ``ground_truth.csv`` written without one.
    """
    metric = metric or target(target_name).metric
    g = _ground_truth(data_path)
    if g is None:
        return float("nan"), float("nan")
    hit = g[(g.Target == target_name) & (g.Inputs == inputs_label)]
    if not len(hit):
        from legibility.cohort.ground_truth import ceilings
        from legibility.study import parse_inputs_label

        info = Path(data_path) / paths.COHORT_INFO
        n = json.loads(info.read_text()).get("ceiling_n", 20_000) if info.exists() else 20_000
        hit = ceilings(n=n, pairs=[(target(target_name), parse_inputs_label(inputs_label))])
    se = float(hit["ceiling_se"].iloc[0]) if "ceiling_se" in hit else float("nan")
    return float(hit[metric].iloc[0]), se


def linear_asymptote(data_path, target_name: str, inputs_label: str) -> float:
    """The linear asymptote of one (target, input set) on a synthetic cohort: what a ridge on the
    200 leading components of the aligned voxels reaches with unlimited data, on the target's main
    metric (:mod:`legibility.cohort.asymptote`); a reference, not a bound. NaN where the
    cohort's ``ground_truth.csv`` has none (the linear world, data that are not synthetic, an
    input set outside the grid)."""
    g = _ground_truth(data_path)
    if g is None or "linear_asymptote" not in g:
        return float("nan")
    hit = g[(g.Target == target_name) & (g.Inputs == inputs_label)]
    return float(hit["linear_asymptote"].iloc[0]) if len(hit) else float("nan")


BEST_COLUMNS = ("Target", "Domain", "Inputs", "metric", "selected_by", "val_score", "test_score", "ci_low",
                "ci_high", "linear_peer", "ceiling", "ceiling_se", "above_ceiling", "peer_above_ceiling")
CHANCE = {"Balanced accuracy": 0.5, "r2": 0.0}  # the main metrics' chance levels
SELECTED_ON_VALIDATION = "validation"
SELECTED_ON_PUBLISHED_TEST = "test (the published table has test scores only)"


def _linear(row) -> float:
    """The linear peer's score on its target's main metric in a metrics row; NaN where the row has none."""
    key = target(row["Target"]).peer_column
    return float(row[key]) if key in row and pd.notna(row[key]) else float("nan")


def best_models(source, data_path=None) -> pd.DataFrame:
    """The best input set of each target, chosen on **validation** scores, with its test score
    and, on a synthetic cohort, its ground-truth ceiling.

    "Best" is the paper's: the highest balanced accuracy for binary targets, the highest
    R² for continuous ones. The choice is made on the ``Validation`` rows (a sweep's
    ``metrics_all.csv``) and the chosen model's ``Test`` row is reported, so the test set is
    looked at once, after the choice. Ties go to the model listed first (grid order). A table
    with test rows only (the paper's published one) can only be chosen on test: the rows then
    say so in ``selected_by``.

    Parameters
    ----------
    source : DataFrame, path or "published"
        A metrics table; or where one is: ``"published"`` (the published table), a sweep's
        ``metrics_comparison_test.csv`` (chosen on the validation rows of the ``metrics_all.csv``
        beside it) or a ``best_models.csv`` (read as it is).
    data_path : path, optional
        The dataset the models were trained on: on a synthetic cohort the chosen input set's
        ceiling (:func:`ceiling`) is added beside each score.

    Returns
    -------
    DataFrame
        One row per target in the table's order of first appearance, with the columns of
        :data:`BEST_COLUMNS`: ``val_score`` and ``test_score`` on the target's main metric,
        ``ci_low``/``ci_high`` the test score's bootstrap CI, ``linear_peer`` the linear peer's
        test score, the ceiling and its SE (NaN without one) and how to read a score above it
        (:func:`above_ceiling`).
    """
    if not isinstance(source, pd.DataFrame):
        if Path(str(source)).name == paths.BEST_MODELS:
            return pd.read_csv(source)  # a choice already made
        source = _metrics_of(source)
    best = _choose(source)
    gt = _ground_truth(data_path)
    pairs = [ceiling(data_path, r.Target, r.Inputs, r.metric) if gt is not None else (float("nan"),) * 2
             for r in best.itertuples()]
    best["ceiling"] = [c for c, _ in pairs]
    best["ceiling_se"] = [se for _, se in pairs]
    best["above_ceiling"] = [above_ceiling(r.test_score, r.ci_low, r.ci_high, r.ceiling, r.test_score)
                             for r in best.itertuples()]
    best["peer_above_ceiling"] = [above_ceiling(r.linear_peer, r.ci_low, r.ci_high, r.ceiling, r.test_score)
                                  for r in best.itertuples()]
    return best[list(BEST_COLUMNS)]


def _metrics_of(source) -> pd.DataFrame:
    """The table :func:`best_models` chooses from, for a ``source`` that is not a table (see there)."""
    from legibility.analysis import load_metrics

    if str(source) != "published":
        beside = Path(source).parent / "metrics_all.csv"
        if beside.exists():
            return pd.read_csv(beside)
    return load_metrics(source)


def _choose(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each target's model chosen on validation (on test for a table of test rows only), as the
    first columns of :data:`BEST_COLUMNS`."""
    mode = metrics["Mode"].astype(str).str.lower() if "Mode" in metrics else pd.Series("test", metrics.index)
    val, test = metrics[mode == "validation"], metrics[mode == "test"]
    if len(test) == 0:
        raise LegibilityError("The metrics table has no Test rows: give a sweep's metrics_all.csv or a "
                              "metrics_comparison_test.csv.")
    on_val = len(val) > 0
    choose_from = val if on_val else test
    rows = []
    for name, group in test.groupby("Target", sort=False):
        metric = target(name).metric
        candidates = choose_from[choose_from.Target == name]
        scores = candidates[metric].astype(float)
        if not len(candidates) or scores.isna().all():
            continue
        chosen = candidates.loc[scores.idxmax()]
        hit = group[group.Inputs == chosen.Inputs]
        if not len(hit):
            raise LegibilityError(f"{name}: the model chosen on validation ({chosen.Inputs}) has no Test row; "
                                  "re-gather the sweep (`legibility sweep` with the same --outpath).")
        t = hit.iloc[0]
        rows.append({"Target": name, "Domain": t.get("Domain", ""), "Inputs": chosen.Inputs, "metric": metric,
                     "selected_by": SELECTED_ON_VALIDATION if on_val else SELECTED_ON_PUBLISHED_TEST,
                     "val_score": float(chosen[metric]) if on_val else float("nan"),
                     "test_score": float(t[metric]),
                     "ci_low": float(t["ci_low"]) if "ci_low" in t and pd.notna(t["ci_low"]) else float("nan"),
                     "ci_high": float(t["ci_high"]) if "ci_high" in t and pd.notna(t["ci_high"]) else float("nan"),
                     "linear_peer": _linear(t)})
    return pd.DataFrame(rows, columns=[c for c in BEST_COLUMNS if not c.startswith("ceiling")
                                       and "above" not in c])


def above_ceiling(score: float, ci_low: float, ci_high: float, ceiling: float, centre: float) -> str:
    """How to read a test ``score`` above its ground-truth ``ceiling``: ``""`` when it is not
    above; ``"sampling"`` when the ceiling lies within the score's 95% CI (``ci_low``, ``ci_high``
    around ``centre``, the deep model's score; for its linear peer, scored on the same test
    participants, the same interval is moved to the peer's score): a small test set's luck;
    ``"suspect"`` when the ceiling lies below the whole interval, which sampling error does not
    explain (leakage or a bug)."""
    if not np.isfinite(ceiling) or not np.isfinite(score) or score <= ceiling:
        return ""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "suspect"
    return "sampling" if score - (centre - ci_low) <= ceiling else "suspect"


def reads_as_chance(metric: str, ci_high: float) -> bool:
    """True when the whole 95% CI of a score lies at or below the metric's chance level."""
    return bool(np.isfinite(ci_high) and ci_high <= CHANCE[metric])


def model_diagnostics(outpath) -> pd.DataFrame:
    """One row per trained model folder under ``outpath``: epochs run, best epoch, minutes,
    final training loss, best validation loss and whether early stopping ended the run."""
    sweep_info = Path(outpath) / "sweep.json"
    cfg = json.loads(sweep_info.read_text()).get("config", {}) if sweep_info.exists() else {}
    rows = []
    for folder in sorted(Path(outpath).iterdir()):
        prog = folder / "training_progress.csv"
        if not prog.exists():
            continue
        h = pd.read_csv(prog)
        best = int(h.val_loss.idxmin())
        rows.append({"model": folder.name, "epochs run": len(h), "best epoch": int(h.epoch[best]),
                     "minutes": float(h.seconds.iloc[-1]) / 60, "final train loss": float(h.train_loss.iloc[-1]),
                     "best val loss": float(h.val_loss.min()),
                     "stopped early": bool(cfg) and len(h) < int(cfg.get("epochs", len(h))),
                     "failed": (folder / "error.txt").exists()})
    return pd.DataFrame(rows)
