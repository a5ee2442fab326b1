"""JupyterLab as `make lab` starts it (JUPYTER_CONFIG_PATH=jupyter_config): the notebooks are the
jupytext scripts notebooks/NN_name.py, opened as notebooks and saved back as cells only (see
jupytext.toml), and checkpoints go under results/, so running a notebook writes nothing into the
repository's tracked or untracked files."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
c = get_config()  # noqa: F821 (defined by Jupyter when it loads this file)
c.ServerApp.root_dir = str(ROOT)
c.FileCheckpoints.checkpoint_dir = str(ROOT / "results" / ".checkpoints")  # absolute: one place, ignored
