# The two commands the README opens with: `make demo` and `make test`.
# Both create .venv and install what they need themselves.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PATH := $(abspath $(BIN)):$(PATH)

# The offline demo: the synthetic set, all six variations, a few epochs each.
DEMO_EPOCHS ?= 6
VARIATIONS := base v1 v2 v3 v4 v5
DEMO_SETTINGS := -S data.source=synthetic $(foreach v,$(VARIATIONS),-S variations.$(v).epochs=$(DEMO_EPOCHS))

.PHONY: setup demo test test-fast lint mutate

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/dvc exp run $(DEMO_SETTINGS)
	$(BIN)/dvc metrics show

# The whole suite: unit, end to end with real DVC, learning; the 15 slowest listed.
test: setup lint
	$(BIN)/pytest --durations=15

# The fast tier: no training run and no DVC run (about 40 s on 2 cores).
test-fast: setup lint
	$(BIN)/pytest -m "not slow" --durations=10

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Mutation testing (mutmut, offline): mutate the core modules' functions and check that the
# fast tests fail on each mutant ([tool.mutmut] in pyproject.toml; the score is in README.md).
# decode.py is narrowed to its reject logic, evaluate.py to its scoring.
MUTATE_JOBS ?= 2
MUTANTS := 'stages.core.config.*' 'stages.core.atomic.*' 'stages.ingest.archive.*' \
	'stages.ingest.split.x_split_index__*' 'stages.ingest.decode.x_decode_photo__*' \
	'stages.ingest.download.x_download__*' 'stages.ingest.download.x__fetch_once__*' \
	'stages.ingest.download.x__verify__*' 'stages.reporting.evaluate.x_score__*'
mutate: setup
	rm -rf mutants
	env -u PYTHONPATH CATDOG_TEST_ARCHIVES=$(abspath mutants/.archives) \
		$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results
