# The two commands a new user needs: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.installed-lint

.PHONY: demo test lint ui stats clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU build; a looser spec lets pip pull gigabytes of CUDA wheels.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test,embeddings,local]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/synth run

test: $(STAMP)
	$(PY) -m pytest

$(LINT_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[lint]"
	touch $(LINT_STAMP)

# The import contract in pyproject.toml (every layer imports only the layers below it) and ruff's
# rules, chosen in pyproject.toml's [tool.ruff] with the reason for each.
lint: $(LINT_STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

ui: $(STAMP)
	$(VENV)/bin/synth ui

stats: $(STAMP)
	$(VENV)/bin/synth stats

clean:
	rm -rf data/warehouse data/exports data/alerts
	find data/dagster_home -mindepth 1 ! -name dagster.yaml -exec rm -rf {} +
