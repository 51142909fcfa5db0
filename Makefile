# fgclass — `make train` and `make test` work on a fresh clone: both install what they need first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Extra Hydra overrides for `make train`, e.g. make train ARGS="trainer.max_epochs=2"
ARGS   ?=

.PHONY: install test test-slow train lint format tensorboard notebook benchmark clean

install: $(STAMP)

# Re-installs only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# One test per core (pytest-xdist); each test process runs torch on one thread (tests/__init__.py).
test: install
	$(PY) -m pytest -n auto

test-slow: install
	$(PY) -m pytest -n auto -m slow

train: install
	$(PY) -m fgclass.train experiment=demo $(ARGS)

lint: install
	$(VENV)/bin/ruff check fgclass tests benchmarks notebooks
	$(VENV)/bin/ruff format --check fgclass tests benchmarks notebooks

format: install
	$(VENV)/bin/ruff check --fix fgclass tests benchmarks notebooks
	$(VENV)/bin/ruff format fgclass tests benchmarks notebooks

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs

# JupyterLab is not a dependency of fgclass: installed into .venv on first use
notebook: install
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install --quiet --disable-pip-version-check jupyterlab
	$(VENV)/bin/jupyter lab notebooks/results.ipynb

benchmark: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf outputs/* multirun .cache .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
