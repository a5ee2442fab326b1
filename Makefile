# Two commands do all the set-up on a fresh machine: `make paper` and `make test`.
# `make book` builds the executed notebooks and docs/ into results/book/; `make lab` opens the notebooks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# TORCH=cpu (default) keeps the CPU build of the pinned torch; TORCH=cu128 (or cu126, ...) replaces it
# with the CUDA build of the same version from PyTorch's own wheel index.
TORCH  ?= cpu
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.lock)
STAMP  := $(VENV)/.installed-$(TORCH)

.PHONY: paper book lab test lint bench env clean

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	if [ "$(TORCH)" != "cpu" ]; then \
	  $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)+$(TORCH)" \
	    --index-url https://download.pytorch.org/whl/$(TORCH); fi
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

env: $(STAMP)

# The whole paper on the synthetic cohort.
paper: $(STAMP)
	$(VENV)/bin/legibility paper

# The book: from the last run's executed notebooks, running the paper first when there are none.
book: $(STAMP)
	if ls results/notebooks/[0-9][0-9]_*.ipynb >/dev/null 2>&1; then $(VENV)/bin/legibility book; \
	else $(VENV)/bin/legibility paper --book; fi

# JupyterLab from this environment, with the repository's settings (jupyter_config/): the jupytext
# scripts notebooks/NN_name.py open as notebooks, and checkpoints go under results/.
lab: $(STAMP)
	mkdir -p results
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter_config" $(VENV)/bin/jupyter lab

test: $(STAMP)
	$(PY) -m ruff check legibility tests benchmarks
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(PY) -m ruff check legibility tests benchmarks

environment.yml: requirements.lock scripts/make_environment.py
	$(PY) scripts/make_environment.py > environment.yml

clean:
	rm -rf results .pytest_cache .ruff_cache
