# The two commands of the README are `make reanalyze` and `make test`.
# Each creates the virtual environment first if it is missing (scripts/bootstrap.sh).
# Name an interpreter with `make test PYTHON=/path/to/python3.12`.

VENV := .venv
BIN := $(VENV)/bin
OUT ?= reports/$(shell date -u +%Y%m%dT%H%M%SZ)
PYTEST_ARGS ?=
NOTEBOOK_ARGS ?=
export PYTHON

.PHONY: setup reanalyze test lint test-all browser-deps notebooks bench bench-smoke clean

setup:
	@bash scripts/bootstrap.sh

## The main job: the whole reanalysis of the bundled (reconstructed) data, ending in the HTML report.
reanalyze: setup
	$(BIN)/milkbayes reanalyze --out $(OUT)

## The default test suite (< 15 minutes on 2 cores): lint and format check, then pytest
## with the browser test included.
test: setup browser-deps lint
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

## ruff (pycodestyle, pyflakes, isort, bugbear, pydocstyle numpy) and ruff's format check.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Everything, heavier recovery / SBC / simulation runs included.
test-all: setup browser-deps
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

browser-deps:
	@bash scripts/ensure_chromium.sh

## Execute the notebooks from their sources notebooks/NN_*.py and write each with its
## outputs (.ipynb and .html) to notebooks/_rendered/ (git-ignored).
## Options go through NOTEBOOK_ARGS, e.g. `make notebooks NOTEBOOK_ARGS="--fast 03 -p MCID 5"`.
notebooks: setup
	$(BIN)/python scripts/render_notebooks.py $(NOTEBOOK_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py

bench-smoke: setup
	$(BIN)/python benchmarks/run_all.py --smoke

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
