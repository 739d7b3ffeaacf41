# Hodegos developer commands. `make test` installs everything the tests need, then runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):/usr/local/go/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: help venv deps system-deps setup lint typecheck fmt crds images test pytest demo demo-down clean

help:
	@echo "make demo   - run Hodegos end to end on the embedded local cluster"
	@echo "make test   - install what the tests need, then lint, type-check and run every test"
	@echo "make images - build Hodegos's own images (OCI archives: hodegos, hodegos-agent, hodegos-collector)"
	@echo "make demo-down - stop the demo cluster"
	@echo "make fmt    - fix formatting and lint findings that can be fixed automatically"

# Hodegos's runtime dependencies at the versions its images pin (the lock `hodegos images lock` writes), so
# the tests run what the images ship; a fresh machine would otherwise get each package's newest release.
LOCK := toolchain/recipes/hodegos/requirements.txt

$(BIN)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' $(LOCK) > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# Debian packages: the union of .ci/apt/*.txt (one file per area, one package a line).
system-deps:
	bash .ci/system-deps.sh

# Area setup scripts (.ci/setup.d/NN-*.sh): agents, built tools, kernel headers. Each is idempotent.
setup: venv system-deps
	for script in .ci/setup.d/*.sh; do [ -e "$$script" ] || continue; echo "==> $$script"; bash "$$script"; done

deps: setup

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

crds: venv
	$(BIN)/python -m api.crds

images: deps
	$(BIN)/hodegos images build

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test: deps lint typecheck pytest

demo: deps
	bash .ci/demo.sh

demo-down: venv
	$(BIN)/hodegos cluster down

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
