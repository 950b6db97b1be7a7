# Two entry points, each doing all set-up on a fresh machine:
#   make run   - create/update .venv, install runboard, start the API on 127.0.0.1:8000
#   make test  - the same plus dev tools, then lint, type-check and the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Local wheels of these releases exist on the development machines; other machines fetch them.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: run test lint typecheck imports pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `.[train]`: torch and torchvision for the local worker (`pip install .` alone is the API).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e '.[train]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@

run: $(VENV)/.installed-run
	$(BIN)/runboard serve

test: $(VENV)/.installed-dev
	$(MAKE) lint typecheck imports pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

imports:  # the contracts in pyproject.toml: arrows point one way, no cycles
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-run
	$(BIN)/runboard bench trainer
	$(BIN)/runboard bench api

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
