# Two commands do all the set-up on a fresh machine: `make paper` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# TORCH=cpu (default) keeps the CPU build of the pinned torch; TORCH=cu128 (or cu126, ...) replaces it
# with the CUDA build of the same version from PyTorch's own wheel index.
TORCH  ?= cpu
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.lock)
STAMP  := $(VENV)/.installed-$(TORCH)

.PHONY: paper test lint bench env clean

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
