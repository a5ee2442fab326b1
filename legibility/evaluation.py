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

__all__ = ["BEST_COLUMNS", "CHANCE", "above_ceiling", "best_beside_ceilings", "best_for", "best_models",
           "ceiling_for", "ceiling_of", "ceiling_with_se", "evaluate_model", "main_metric", "model_diagnostics",
           "model_metrics", "predict_rows", "reads_as_chance"]


# ----------------------------------------------------------------------------- one model
@torch.no_grad()
def predict_rows(model, data: ModelData, rows, device: str = "cpu", batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Model outputs (probability of class 1, or target-scale values) and mean loss."""
    model.eval()
    loss_fn = loss_function(data.tgt.is_binary)
    outs, losses = [], []
    for s in range(0, len(rows), batch_size):
        b = to_device(data.batch(rows[s:s + batch_size]), device)
        with autocast(device):
            out = model(b).float()
        losses.append(float(loss_fn(out, b["target"])) * len(out))
        outs.append(out.cpu().numpy())
    out = np.concatenate(outs)
    pred = 1 / (1 + np.exp(-out[:, 1])) if data.tgt.is_binary else out[:, 0]
    return pred, sum(losses) / len(rows)


def model_metrics(data: ModelData, pred: np.ndarray, rows) -> tuple[dict, np.ndarray]:
    """The published metrics of ``pred`` on ``rows``, and the predictions in original units."""
    y = data.y[rows]
    if data.tgt.is_binary:
        return score_binary(y, pred), pred
    values = data.target_transform.inverse_transform(pred)  # original units
    return score_continuous(y, values, data.train_median), values


def evaluate_model(model, data: ModelData, out: Path, minutes: float, device: str = "cpu", batch_size: int = 64,
                   seed: int = 0, history=None) -> dict:
    """Score a trained model on validation and test beside its linear peer, and write its folder:
    ``metrics.csv`` (the published table's columns, then bootstrap CIs, split sizes and the peer's
    scores), ``test_predictions.csv`` and its figures. Returns the test row."""
    from legibility.figures import save_figure
    from legibility.figures.model import plot_confusion, plot_curves, plot_scatter
    from legibility.linear import linear_peer

    tgt, inputs = data.tgt, data.inputs
    peer = linear_peer(data)
    rows = []
    for mode, split in (("Validation", "val"), ("Test", "test")):
        idx = data.rows[split]
        pred, loss = predict_rows(model, data, idx, device, batch_size)
        m, values = model_metrics(data, pred, idx)
        y = data.y[idx]
        if tgt.is_binary:
            ci_metric = "Balanced accuracy"
            lo, hi = bootstrap_ci(y, (values >= 0.5).astype(int), "balanced_accuracy", seed=seed)
        else:
            ci_metric = "r2"
            lo, hi = bootstrap_ci(y, values, "r2", seed=seed)
        row = {"Mode": mode, "Target": tgt.display, "Inputs": inputs.label, **m,
               "Training time (mins)": minutes, "Loss": loss, **inputs.flags(),
               "Domain": DOMAINS[tgt.domain].name, "n": len(idx), "ci_metric": ci_metric,
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
def main_metric(target_display: str) -> str:
    """``Balanced accuracy`` for binary targets, ``r2`` for continuous ones."""
    return "Balanced accuracy" if target(target_display).is_binary else "r2"


def ceiling_for(data_path, row: dict) -> pd.DataFrame:
    """One small table: the model's test score, its linear peer's, and the ground-truth ceiling
    (with its standard error) of the same (target, input set) where the data are a synthetic
    cohort."""
    metric = main_metric(row["Target"])
    value, se = ceiling_with_se(data_path, row["Target"], row["Inputs"], metric)
    out = {"target": row["Target"], "inputs": row["Inputs"], "metric": metric,
           "deep model": row[metric], "95% CI": f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]",
           "linear peer": _linear(row, metric), "ceiling": value, "ceiling SE": se}
    return pd.DataFrame([out])


def _ground_truth(data_path) -> pd.DataFrame | None:
    """A synthetic cohort's ``ground_truth.csv``; None for data without one."""
    gt = Path(data_path) / paths.GROUND_TRUTH if data_path else None
    return pd.read_csv(gt) if gt is not None and gt.exists() else None


def ceiling_with_se(data_path, target_name: str, inputs_label: str, metric: str) -> tuple[float, float]:
    """The ground-truth ceiling of one (target, input set) on a synthetic cohort and its
    standard error: read from its ``ground_truth.csv`` (the grid's models), or computed the
    same way for an input set outside the grid (e.g. a psychology item from imaging alone).
    ``(nan, nan)`` for data that are not synthetic; the SE is NaN for a ``ground_truth.csv``
    written before it carried one."""
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


def ceiling_of(data_path, target_name: str, inputs_label: str, metric: str) -> float:
    """The ceiling of :func:`ceiling_with_se` alone."""
    return ceiling_with_se(data_path, target_name, inputs_label, metric)[0]


BEST_COLUMNS = ("Target", "Domain", "Inputs", "metric", "selected_by", "val_score", "test_score", "ci_low",
                "ci_high", "linear_peer", "ceiling", "ceiling_se", "above_ceiling", "peer_above_ceiling")
CHANCE = {"Balanced accuracy": 0.5, "r2": 0.0}  # the main metrics' chance levels
SELECTED_ON_VALIDATION = "validation"
SELECTED_ON_PUBLISHED_TEST = "test (the published table has test scores only)"


def _linear(row, metric: str) -> float:
    key = "linear_balanced_accuracy" if metric == "Balanced accuracy" else "linear_r2"
    return float(row[key]) if key in row and pd.notna(row[key]) else float("nan")


def best_models(metrics: pd.DataFrame) -> pd.DataFrame:
    """The best input set of each target, chosen on **validation** scores, with its test score.

    "Best" is the paper's: the highest balanced accuracy for binary targets, the highest
    R² for continuous ones. The choice is made on the ``Validation`` rows of ``metrics`` (a
    sweep's ``metrics_all.csv``) and the chosen model's ``Test`` row is reported, so the test
    set is looked at once, after the choice. Ties go to the model listed first (grid order).
    A table with test rows only (the paper's published one) can only be chosen on test: the
    rows then say so in ``selected_by``.

    Returns
    -------
    DataFrame
        One row per target in the table's order of first appearance, with the columns of
        :data:`BEST_COLUMNS` but the two ceiling ones (see :func:`best_beside_ceilings`):
        ``val_score`` and ``test_score`` on the target's main metric, ``ci_low``/``ci_high``
        the test score's bootstrap CI, ``linear_peer`` the linear peer's test score.
    """
    mode = metrics["Mode"].astype(str).str.lower() if "Mode" in metrics else pd.Series("test", metrics.index)
    val, test = metrics[mode == "validation"], metrics[mode == "test"]
    if len(test) == 0:
        raise LegibilityError("The metrics table has no Test rows: give a sweep's metrics_all.csv or a "
                              "metrics_comparison_test.csv.")
    on_val = len(val) > 0
    choose_from = val if on_val else test
    rows = []
    for name, group in test.groupby("Target", sort=False):
        metric = main_metric(name)
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
                     "linear_peer": _linear(t, metric)})
    return pd.DataFrame(rows, columns=[c for c in BEST_COLUMNS if not c.startswith("ceiling")])


def best_beside_ceilings(metrics: pd.DataFrame, data_path=None) -> pd.DataFrame:
    """:func:`best_models` with, on a synthetic cohort, the ground-truth ceiling of the chosen
    input set and its standard error (NaN for other data): the table of ``best_models.csv``."""
    best = best_models(metrics)
    gt = _ground_truth(data_path)
    ceil, se = [], []
    for r in best.itertuples():
        if gt is None:
            ceil.append(float("nan"))
            se.append(float("nan"))
            continue
        value, err = ceiling_with_se(data_path, r.Target, r.Inputs, r.metric)
        ceil.append(value)
        se.append(err)
    best["ceiling"], best["ceiling_se"] = ceil, se
    best["above_ceiling"] = [above_ceiling(r.test_score, r.ci_low, r.ci_high, r.ceiling, r.test_score)
                             for r in best.itertuples()]
    best["peer_above_ceiling"] = [above_ceiling(r.linear_peer, r.ci_low, r.ci_high, r.ceiling, r.test_score)
                                  for r in best.itertuples()]
    return best[list(BEST_COLUMNS)]


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


def best_for(source) -> pd.DataFrame:
    """The best-model choice that goes with a metrics source (what ``legibility analyse`` and
    the figures box): ``"published"`` -> the published table's test-based choice; a sweep's
    ``metrics_comparison_test.csv`` -> chosen on the validation rows of the ``metrics_all.csv``
    beside it; a ``best_models.csv`` -> read as it is."""
    from legibility.analysis import load_metrics

    if str(source) != "published":
        path = Path(source)
        if path.name == paths.BEST_MODELS:
            return pd.read_csv(path)
        beside = path.parent / "metrics_all.csv"
        if beside.exists():
            return best_models(pd.read_csv(beside))
    return best_models(load_metrics(source))


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
