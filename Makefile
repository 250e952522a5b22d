# The two commands the README opens with: `make demo` and `make test`.
# Both create .venv and install what they need themselves: `make setup` the pipeline's
# packages only (what the demo runs), `make setup-dev` the test and lint tools on top.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PATH := $(abspath $(BIN)):$(PATH)

# The offline demo: the synthetic set at DEMO_SIDE x DEMO_SIDE pixels (the smallest side
# every variation's network takes; params.yaml keeps the study's 120), every variation a few
# epochs, run as the DVC experiment $(DEMO_NAME) in a temporary copy of the workspace (dvc
# exp run --temp): params.yaml and the workspace stay the study's. A second `make demo`
# replaces the experiment; unchanged stages come back from DVC's run-cache. The study's six
# run DEMO_EPOCHS epochs; v6 (v4 with early stopping) at most DEMO_V6_EPOCHS, with patience
# 1; v7 DEMO_V7_EPOCHS in all, half of them frozen, on random weights (weights: null: the
# demo stays offline; the real run downloads ImageNet's). About 2 min on 2 cores, half of
# it training: each stage's command is forked from a process that has imported TensorFlow
# once (stages/core/warm.py; benchmarks/README.md, "Pipeline overhead").
DEMO_SIDE ?= 72
DEMO_EPOCHS ?= 4
DEMO_V6_EPOCHS ?= 8
DEMO_V7_EPOCHS ?= 2
DEMO_NAME ?= demo
VARIATIONS := base v1 v2 v3 v4 v5
DEMO_SETTINGS := -S data.source=sources/synthetic.yaml -S image.height=$(DEMO_SIDE) -S image.width=$(DEMO_SIDE) \
	$(foreach v,$(VARIATIONS),-S variations.$(v).epochs=$(DEMO_EPOCHS)) \
	-S variations.v6.epochs=$(DEMO_V6_EPOCHS) -S variations.v6.early_stopping.patience=1 \
	-S variations.v7.epochs=$(DEMO_V7_EPOCHS) -S variations.v7.backbone.weights=null \
	-S variations.v7.backbone.frozen_epochs=$(shell expr $(DEMO_V7_EPOCHS) / 2)

.PHONY: setup setup-dev setup-gpu constraints demo test test-fast lint mutate

setup: $(STAMP)
setup-dev: $(DEV_STAMP)

# Installed from constraints.txt: the exact versions the project was tested with.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed: make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# An NVIDIA GPU machine: also JAX with CUDA 12, so that train.backend auto trains on the GPU
# (stages/core/backend.py). Then `dvc repro` as anywhere else.
setup-gpu: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[cuda]'

# After a change of pyproject.toml's dependencies: re-resolve them in a fresh venv and
# write the versions it installed to constraints.txt.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet --upgrade pip
	.venv-constraints/bin/pip install --quiet -e '.[dev,jax]'
	{ sed -n '1,/^# Linux/p' constraints.txt; \
	  .venv-constraints/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints

demo: setup
	@$(BIN)/dvc exp remove $(DEMO_NAME) >/dev/null 2>&1 || true
	$(BIN)/dvc exp run --temp --name $(DEMO_NAME) $(DEMO_SETTINGS)
	@report=$$(mktemp) && \
	  $(BIN)/dvc get . metrics/compare.md --rev $(DEMO_NAME) --force -o "$$report" && \
	  cat "$$report" && rm -f "$$report"
	@echo
	@echo "What ran: a smoke test, not a result. Every variation trained on the synthetic set"
	@echo "(drawn cats and dogs, sources/synthetic.yaml) at $(DEMO_SIDE)x$(DEMO_SIDE) pixels for $(DEMO_EPOCHS) epochs"
	@echo "(v6 at most $(DEMO_V6_EPOCHS), v7 $(DEMO_V7_EPOCHS) on random weights), one seed. The study's figures come from"
	@echo "25,000 real photos and 50 epochs: dvc repro reproduces them (hours; README.md, \"The real study\")."
	@echo
	@echo "The demo is the DVC experiment '$(DEMO_NAME)'; params.yaml and the workspace are untouched."
	@echo "Look at it:"
	@echo "  source $(VENV)/bin/activate      # dvc and catdog on your PATH"
	@echo "  dvc exp show --only-changed      # its params and metrics beside the study's commit"
	@echo "  dvc plots diff $(DEMO_NAME)             # its curves and figures, as an HTML page"
	@echo "  dvc exp apply $(DEMO_NAME)              # its outputs into the workspace (git checkout params.yaml undoes)"

# The whole suite: unit, end to end with real DVC, learning; the 15 slowest listed.
test: setup-dev lint
	$(BIN)/pytest --durations=15

# The fast tier: no training run and no DVC run (about 50 s on 2 cores).
test-fast: setup-dev lint
	$(BIN)/pytest -m "not slow" --durations=10

# ruff (also as a pre-commit hook: .pre-commit-config.yaml) and mypy on stages/.
lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Mutation testing (mutmut, offline): mutate the core modules' functions and check that the
# fast tests fail on each mutant ([tool.mutmut] in pyproject.toml; the score is in README.md).
# decode.py is narrowed to its reject logic, evaluate.py to its scoring.
MUTATE_JOBS ?= 2
MUTANTS := 'stages.core.config.*' 'stages.core.atomic.*' 'stages.ingest.archive.*' \
	'stages.ingest.split.x_split_index__*' 'stages.ingest.decode.x_decode_photo__*' \
	'stages.ingest.download.x_download__*' 'stages.ingest.download.x__fetch_once__*' \
	'stages.ingest.download.x__verify__*' 'stages.reporting.evaluate.x_score__*'
mutate: setup-dev
	rm -rf mutants
	env -u PYTHONPATH CATDOG_TEST_ARCHIVES=$(abspath mutants/.archives) \
		$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results
