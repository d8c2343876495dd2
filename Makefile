# heymarket-bridge developer commands. Each target creates the virtualenv (.venv) first if needed,
# so `make demo` and `make test` work on a fresh clone with only python3 (>= 3.11) on PATH.
#
#   make demo     run the whole pipeline locally (moto + Heymarket sandbox) and print a summary
#   make test     lint, type-check, validate and build the template, run every test
#   make bench    benchmarks (figures printed, nothing asserted on speed)
#   make soak     the long guarantee tests: 10,000 webhooks, every fault at once, more fuzzing
#   make local    the local stack in the foreground, for curl (Ctrl-C stops it)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keep every tool run offline and quiet: no telemetry, no update checks, no real AWS profile.
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_DISABLE_UPDATE_CHECK := 1

.PHONY: venv venv-local demo local test lint typecheck template pytest bench soak clean

# Two stamps: `make demo` needs only the local stack's packages (seconds to install); `make test` adds the
# test and lint tools (aws-sam-cli is the big one). Either is redone when pyproject.toml changes.
venv: $(VENV)/.installed-dev
venv-local: $(VENV)/.installed-local

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# --no-compile: pip would otherwise compile every module of moto and botocore (half the install time of a fresh
# `make demo`); Python compiles, on first import, only the modules the demo actually uses.
$(VENV)/.installed-local: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed-local

demo: venv-local
	$(BIN)/heymarket-bridge demo

local: venv-local
	$(BIN)/heymarket-bridge local

test: lint typecheck template pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# cfn-lint, SAM's own linter, and a real `sam build` (the layer is built for python3.13 arm64 with pip's
# --platform download, so neither Docker nor a local python3.13 is needed).
template: venv
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint
	VIRTUAL_ENV=$(abspath $(VENV)) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build

pytest: venv
	$(BIN)/pytest

bench: venv
	$(BIN)/python -m benchmarks

soak: venv
	$(BIN)/pytest -m soak

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info .local
