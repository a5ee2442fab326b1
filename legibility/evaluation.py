"""Reading results beside the truth: a model's test score, its linear peer and its ceiling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from legibility import paths
from legibility.study import target

__all__ = ["best_beside_ceilings", "best_models", "ceiling_for", "ceiling_of", "main_metric", "model_diagnostics"]


def main_metric(target_display: str) -> str:
    """``Balanced accuracy`` for binary targets, ``r2`` for continuous ones."""
    return "Balanced accuracy" if target(target_display).is_binary else "r2"


def ceiling_for(data_path, row: dict) -> pd.DataFrame:
    """One small table: the model's test score, its linear peer's, and the ground-truth ceiling
    of the same (target, input set) where the data are a synthetic cohort."""
    metric = main_metric(row["Target"])
    linear = row["linear_balanced_accuracy"] if metric == "Balanced accuracy" else row["linear_r2"]
    out = {"target": row["Target"], "inputs": row["Inputs"], "metric": metric,
           "deep model": row[metric], "95% CI": f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]",
           "linear peer": linear, "ceiling": ceiling_of(data_path, row["Target"], row["Inputs"], metric)}
    return pd.DataFrame([out])


def _ground_truth(data_path) -> pd.DataFrame | None:
    """A synthetic cohort's ``ground_truth.csv``; None for data without one."""
    gt = Path(data_path) / paths.GROUND_TRUTH if data_path else None
    return pd.read_csv(gt) if gt is not None and gt.exists() else None


def ceiling_of(data_path, target_name: str, inputs_label: str, metric: str) -> float:
    """The ground-truth ceiling of one (target, input set) on a synthetic cohort: read from its
    ``ground_truth.csv`` (the grid's models), or computed the same way for an input set outside
    the grid (e.g. a psychology item from imaging alone). NaN for data that are not synthetic."""
    import json

    g = _ground_truth(data_path)
    if g is None:
        return float("nan")
    hit = g[(g.Target == target_name) & (g.Inputs == inputs_label)]
    if len(hit):
        return float(hit[metric].iloc[0])
    from legibility.cohort.ground_truth import ceilings
    from legibility.study import parse_inputs_label

    info = Path(data_path) / paths.COHORT_INFO
    n = json.loads(info.read_text()).get("ceiling_n", 20_000) if info.exists() else 20_000
    row = ceilings(n=n, pairs=[(target(target_name), parse_inputs_label(inputs_label))])
    return float(row[metric].iloc[0])


def best_models(metrics: pd.DataFrame) -> pd.DataFrame:
    """The best model of each target (SPEC: the highest balanced accuracy for binary targets,
    the highest R² for continuous ones), one row per target in the table's order of first
    appearance, with the score under ``metric``/``score``."""
    rows = []
    for name, group in metrics.groupby("Target", sort=False):
        metric = main_metric(name)
        best = group.loc[group[metric].astype(float).idxmax()]
        rows.append({**best.to_dict(), "metric": metric, "score": float(best[metric])})
    return pd.DataFrame(rows).reset_index(drop=True)


def best_beside_ceilings(metrics: pd.DataFrame, data_path=None) -> pd.DataFrame:
    """Every target's best model beside its linear peer and, on a synthetic cohort, the
    ground-truth ceiling of the same input set and the best ceiling over the target's inputs."""
    best = best_models(metrics)
    out = pd.DataFrame({"Target": best.Target, "Domain": best.Domain, "Inputs": best.Inputs,
                        "metric": best.metric, "deep model": best.score})
    if "ci_low" in best:
        out["ci_low"], out["ci_high"] = best.ci_low, best.ci_high
    if "linear_r2" in best:
        out["linear peer"] = [r.linear_balanced_accuracy if r.metric == "Balanced accuracy" else r.linear_r2
                              for r in best.itertuples()]
    gt = _ground_truth(data_path)
    if gt is not None:
        same, top = [], []
        for r in best.itertuples():
            g = gt[gt.Target == r.Target]
            hit = g[g.Inputs == r.Inputs]
            same.append(float(hit[r.metric].iloc[0]) if len(hit) else float("nan"))
            ran = g[g.Inputs.isin(metrics.loc[metrics.Target == r.Target, "Inputs"])]
            top.append(float(ran[r.metric].max()) if len(ran) else float("nan"))
        out["ceiling"] = same
        out["best ceiling of the inputs run"] = top
    return out


def model_diagnostics(outpath) -> pd.DataFrame:
    """One row per trained model folder under ``outpath``: epochs run, best epoch, minutes,
    final training loss, best validation loss and whether early stopping ended the run."""
    import json

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
