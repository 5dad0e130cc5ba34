# Each target bootstraps .venv itself, so `make demo` and `make test` work on a fresh clone.
# .venv holds exactly requirements.lock (every package pinned with its hashes) and nothing else:
# it is rebuilt from scratch whenever the lock or pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
HOST ?= 127.0.0.1
PORT ?= 5000
# One lock for Python 3.11-3.13 on every platform (environment markers), resolved by uv.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --extra dev --universal --generate-hashes \
	--python-version 3.11 --custom-compile-command "make lock" --quiet -o $(LOCK)

.PHONY: demo test bench bench-quick lint format serve clean lock upgrade

$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Re-resolve after a change to pyproject.toml, keeping every pin the change does not force.
# Needs only uv from the current lock: a new dependency is not in .venv until the lock has it
# (building .venv first would fail its `pip check`).
lock:
	test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(UV_COMPILE)

# Move every package to the newest version pyproject.toml allows; then `make test` before
# committing the new lock (README: "Dependencies and the lock").
upgrade:
	test -x $(BIN)/uv || $(MAKE) $(STAMP)
	$(UV_COMPILE) --upgrade

demo: $(STAMP)
	$(BIN)/compliance db upgrade
	$(BIN)/compliance demo
	@echo "Serving on http://$(HOST):$(PORT) (scheduler alongside; Ctrl-C stops both)"
	$(BIN)/python -m compliance.run_demo --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
