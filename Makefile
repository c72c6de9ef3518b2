# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# TORCH pins the build installed first; on this project's CPU machines torch==2.13.0 is a local
# CPU wheel. GPU users: `make TORCH=torch test` (or install torch yourself first).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.tunefactory-installed

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

docs: $(STAMP)
	$(BIN)/python -m tunefactory.config.reference docs/configuration.md
	$(BIN)/python -m tunefactory.data.template.families docs/templates.md

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info .cache
