"""Run the paper's notebooks in order with papermill, passing the parameters through.

The notebooks are the jupytext scripts ``notebooks/NN_name.py``; each is made into the ``.ipynb``
papermill runs in a temporary folder (:func:`as_notebook`), never beside its script.

Executed copies go to ``results/notebooks/`` (ignored by git); figures to ``figures/``. Both are
written to temporary folders beside them first and moved into place once every notebook has run,
so a failing run never replaces the notebooks or figures of a good one. A failing notebook stops
the run and shows the failing cell's error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from legibility import defaults, paths
from legibility.errors import NotebookError

__all__ = ["PAPER_SCALING", "as_notebook", "notebook_sources", "run_paper", "summary"]

PAPER_SCALING = defaults.SCALING  # notebook 07 at the main job's size

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def notebook_sources(notebooks_dir) -> list[Path]:
    """The notebooks of a folder in order: each ``NN_name.py`` (jupytext percent format), or an
    ``NN_name.ipynb`` that has no script beside it."""
    folder = Path(notebooks_dir)
    scripts = {p.stem: p for p in folder.glob("[0-9][0-9]_*.py")}
    ipynbs = {p.stem: p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.stem not in scripts}
    return [p for _, p in sorted({**ipynbs, **scripts}.items())]


def as_notebook(source, folder) -> Path:
    """``source`` as the ``.ipynb`` papermill runs, written to ``folder``: a jupytext script is
    converted (cells, tags and the python3 kernel), an ``.ipynb`` copied."""
    import jupytext
    import nbformat

    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{source.stem}.ipynb"
    if source.suffix == ".ipynb":
        shutil.copyfile(source, out)
        return out
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.pop("jupytext", None)
    nbformat.write(nb, out)
    return out


def _accepted(nb_path: Path) -> set[str]:
    import papermill as pm

    return set(pm.inspect_notebook(str(nb_path)))


def run_paper(parameters: dict | None = None, notebooks_dir=None, results_dir=None,
              progress: bool = True) -> list[Path]:
    """Execute every notebook of ``notebooks_dir`` in order (:func:`notebook_sources`); each gets
    the parameters it declares.

    Executed copies go to ``results_dir/notebooks/``; the wall time to ``results_dir/paper_wall_time.txt``.
    The executed copies and the figures (``parameters["figures_dir"]``) are written to temporary
    folders and moved into place only when every notebook has run.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebooks_dir = Path(notebooks_dir or paths.NOTEBOOKS)
    results_dir = Path(results_dir or paths.RESULTS)
    final = {"notebooks": results_dir / "notebooks"}
    parameters = dict(parameters or {})
    if parameters.get("figures_dir"):
        final["figures"] = Path(paths.in_project(parameters["figures_dir"]))
    partial = {k: v.with_name(f".{v.name}-partial-{os.getpid()}") for k, v in final.items()}
    for folder in partial.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    if "figures" in partial:
        parameters["figures_dir"] = str(partial["figures"])
    out_dir = partial["notebooks"]
    done = []
    t0 = time.perf_counter()
    sources = tempfile.TemporaryDirectory(prefix="legibility-notebooks-")
    for source in notebook_sources(notebooks_dir):
        nb = as_notebook(source, sources.name)
        accepted = _accepted(nb)
        params = {k: v for k, v in parameters.items() if k in accepted}
        if "data_path" in accepted and "synthetic_dir" not in accepted and "data_path" not in parameters \
                and "synthetic_dir" in parameters:
            params["data_path"] = parameters["synthetic_dir"]  # the cohort notebook 01 generated
        target = out_dir / nb.name
        print(f"[{time.perf_counter() - t0:6.0f} s] running {nb.name} {params}")
        try:
            pm.execute_notebook(str(nb), str(target), parameters=params, cwd=str(paths.PROJECT_ROOT),
                                progress_bar=progress)
        except PapermillExecutionError as err:
            if "figures" in partial:
                shutil.rmtree(partial["figures"], ignore_errors=True)
            sources.cleanup()
            raise NotebookError(
                f"{nb.name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                f"The executed copy with the traceback is {target}; the notebooks and figures of the "
                f"last good run are untouched in {', '.join(map(str, final.values()))}.") from err
        done.append(target)
    sources.cleanup()
    for key, folder in partial.items():
        _move_into(folder, final[key])
    (results_dir / "paper_wall_time.txt").write_text(f"{time.perf_counter() - t0:.1f} s\n")
    return [final["notebooks"] / p.name for p in done]


def _move_into(src: Path, dst: Path):
    """Move every file of ``src`` into ``dst`` (replacing those of the same name), then remove ``src``."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.rglob("*")):
        if f.is_file():
            to = dst / f.relative_to(src)
            to.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, to)
    shutil.rmtree(src, ignore_errors=True)


def summary(parameters: dict, results_dir=None) -> str:
    """Where everything is, and the headline numbers of the run: each target's best model
    (chosen on validation, read from ``best_models.csv``) with its test score, linear peer and,
    on a synthetic cohort, its ceiling."""
    import pandas as pd

    results_dir = Path(results_dir or paths.RESULTS)
    root = paths.PROJECT_ROOT
    sweep_dir = root / parameters.get("sweep_dir", "results/sweep")
    lines = [f"executed notebooks: {results_dir / 'notebooks'}",
             f"figures:            {root / parameters.get('figures_dir', 'figures')}",
             f"models and metrics: {sweep_dir}",
             f"analyses:           {root / parameters.get('out_dir', 'results/analysis')}",
             f"wall time:          {(results_dir / 'paper_wall_time.txt').read_text().strip()}"]
    best_path = root / parameters.get("out_dir", "results/analysis") / paths.BEST_MODELS
    if best_path.exists():
        lines += ["", f"best model per target (chosen on validation, scored on test; {best_path}):",
                  *best_table_lines(pd.read_csv(best_path))]
    return "\n".join(lines)


def best_table_lines(best) -> list[str]:
    """``best_models.csv`` as the summary prints it: a score whose whole 95% CI lies at or below
    chance reads ``chance``; a score above its ceiling is flagged (``sampling``: the ceiling is
    within its CI; ``suspect``: below all of it), with a line saying how to read the flags."""
    from legibility.evaluation import reads_as_chance

    best = best.copy()
    best["test 95% CI"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(best.ci_low, best.ci_high, strict=True)]
    best["test_score"] = ["chance" if reads_as_chance(m, hi) else f"{v:.3f}"
                          for m, v, hi in zip(best.metric, best.test_score, best.ci_high, strict=True)]
    flags = [c for c in ("above_ceiling", "peer_above_ceiling") if c in best.columns]
    for c in flags:
        best[c] = best[c].fillna("")
    cols = ["Target", "Inputs", "metric", "val_score", "test_score", "test 95% CI", "linear_peer", "ceiling",
            "ceiling_se", *flags]
    lines = best[cols].to_string(index=False, float_format="%.3f").splitlines()
    if any((best[c] != "").any() for c in flags):
        lines.append("above_ceiling: a test score above its ground-truth ceiling. 'sampling': the ceiling lies within "
                     "the score's 95% CI, the luck of a small test set; 'suspect': below all of it, which sampling "
                     "does not explain (look for leakage). 'chance': the whole CI is at or below chance.")
    return lines
