# Two commands do all set-up on a fresh machine: `make demo` and `make test`. Both install the exact
# versions of requirements/lock.txt (the ones the suite passed with), so a clone behaves the same
# next month as today; `make lock` refreshes that file, `make test-latest` tries the newest releases.
#
# TORCH is installed first and kept out of the lock, because its build depends on the machine:
# `pip install torch==2.13.0` takes this project's local CPU wheel on our CI machines and PyPI's
# CUDA build on a GPU machine. Another CUDA build:
#   make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" test
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PIP_VERSION ?= 26.3
UV_VERSION ?= 0.13.9
LOCK := requirements/lock.txt
# `make lock` resolves torch's own dependencies from its CPU wheel (no CUDA packages in the lock).
LOCK_TORCH ?= torch==2.13.0+cpu
LOCK_FLAGS ?= --find-links /opt/wheels
BIN := $(VENV)/bin
STAMP := $(VENV)/.tunefactory-installed
LATEST_VENV := .venv-latest

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install lock demo test test-fast test-latest bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install -q $(TORCH) -c $(LOCK)
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Pin every package `pip install -e ".[dev]"` needs (torch excepted, see TORCH) for Python 3.11.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	echo "$(LOCK_TORCH)" > $(VENV)/lock-torch.txt
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra dev --python-version 3.11 \
		$(LOCK_FLAGS) -c $(VENV)/lock-torch.txt --no-emit-package torch \
		--custom-compile-command "make lock" -o $(LOCK)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The suite on the newest release of every dependency, past pyproject's upper bounds, in its own venv
# (not in CI). When it passes: raise the bounds in pyproject.toml, `make lock`, commit both.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install -q $(TORCH)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade $$($(PYTHON) requirements/unbounded.py dev)
	$(LATEST_VENV)/bin/python -m pip install -q --no-deps -e .
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/versions.txt
	$(LATEST_VENV)/bin/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

docs: $(STAMP)
	$(BIN)/python -m tunefactory.config.reference docs/configuration.md docs/design.md
	$(BIN)/python -m tunefactory.data.template.families docs/templates.md

clean:
	rm -rf $(VENV) $(LATEST_VENV) .pytest_cache build dist src/*.egg-info .cache
