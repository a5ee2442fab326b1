"""The paper as a book: a static HTML site of the executed notebooks and the docs pages.

:func:`build_book` lays out a Sphinx source folder (MyST-NB reads the executed notebooks as they
are, without running them), builds it, and writes the site to ``results/book/`` (open
``results/book/index.html``). The site is self-contained: no script, style sheet or font is
fetched from the network when it is read (widgets' JavaScript and MathJax are left out; a
progress bar shows as its text).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from legibility import paths
from legibility.errors import LegibilityError

__all__ = ["BOOK", "build_book"]

BOOK = paths.RESULTS / "book"
DOCS = paths.PROJECT_ROOT / "docs"
RECORDS = paths.PROJECT_ROOT / "benchmarks" / "results"

CONF = '''\
project = "Computational limits to the legibility of the imaged human brain"
author = "legibility (after Ruffle et al., NeuroImage 2024)"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # the notebooks were executed by `legibility paper`
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN: a progress bar shows as its text
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
myst_enable_extensions = []  # no dollar maths: no MathJax from a CDN
myst_heading_anchors = 3
html_theme = "alabaster"
html_theme_options = {"font_family": "sans-serif", "head_font_family": "sans-serif", "page_width": "1100px"}
html_title = project
html_show_sourcelink = False
html_copy_source = False
exclude_patterns = ["_build"]
suppress_warnings = ["myst.header", "myst.xref_missing", "misc.highlighting_failure", "toc.not_included"]
'''

INDEX = """# Computational limits to the legibility of the imaged human brain

A runnable version of Ruffle et al. (NeuroImage 2024): which individual characteristics (sex,
age, weight, body fat, blood tests, chronic disease, twelve psychology items) can be read from
brain MRI, functional connectivity and non-imaging data. These pages are the notebooks of one
run of `legibility paper`, executed, with their tables and figures, followed by the project's
documentation and the records of its measured studies.

```{{toctree}}
:maxdepth: 1
:caption: The paper, executed

{notebooks}
```

```{{toctree}}
:maxdepth: 1
:caption: Documentation

{docs}
```

```{{toctree}}
:maxdepth: 1
:caption: Measured studies

{records}
```
"""


def _lay_out(notebooks: list[Path], src: Path) -> None:
    """The Sphinx source folder: conf.py, an index, the notebooks, docs/ and the benchmark records
    (with their figures, so the docs' relative links to them resolve)."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text(CONF)
    (src / "notebooks").mkdir()
    for nb in notebooks:
        shutil.copyfile(nb, src / "notebooks" / nb.name)
    docs = sorted(DOCS.glob("*.md")) if DOCS.is_dir() else []
    if docs:
        shutil.copytree(DOCS, src / "docs", ignore=shutil.ignore_patterns("*.py", "_*"))
    records = sorted(RECORDS.rglob("*.md")) if RECORDS.is_dir() else []
    if records:
        shutil.copytree(RECORDS, src / "benchmarks" / "results",
                        ignore=lambda d, names: [n for n in names if not (Path(d, n).is_dir()
                                                                          or n.endswith((".md", ".png")))])
    (src / "index.md").write_text(INDEX.format(
        notebooks="\n".join(f"notebooks/{nb.stem}" for nb in notebooks),
        docs="\n".join(f"docs/{p.stem}" for p in docs) or "",
        records="\n".join(str(p.relative_to(RECORDS.parent.parent).with_suffix("")) for p in records)))


def build_book(notebooks_dir=None, out=None, quiet: bool = True) -> Path:
    """Build the book from the executed notebooks in ``notebooks_dir`` (``results/notebooks``)
    and the docs; returns the path of its ``index.html`` under ``out`` (``results/book``).

    Raises
    ------
    LegibilityError
        When ``notebooks_dir`` holds no executed notebook, or Sphinx fails (its log is named).
    """
    notebooks_dir = Path(notebooks_dir or paths.RESULTS / "notebooks")
    out = Path(out or BOOK)
    notebooks = sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise LegibilityError(f"no executed notebook in {notebooks_dir}: run `make paper` (or `legibility paper`) "
                              "first, or `legibility paper --book` to do both.")
    with tempfile.TemporaryDirectory(prefix="legibility-book-") as tmp:
        src = Path(tmp) / "src"
        _lay_out(notebooks, src)
        log = Path(tmp) / "sphinx.log"
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", *(["-q"] if quiet else []), str(src),
               str(Path(tmp) / "html")]
        with open(log, "w") as fh:
            done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
        if done.returncode:
            out.mkdir(parents=True, exist_ok=True)
            kept = out.parent / "book-sphinx.log"
            shutil.copyfile(log, kept)
            raise LegibilityError(f"Sphinx could not build the book from {notebooks_dir} (exit {done.returncode}); "
                                  f"its log is {kept}.")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(Path(tmp) / "html", out, ignore=shutil.ignore_patterns(".doctrees", ".buildinfo"))
    return out / "index.html"
