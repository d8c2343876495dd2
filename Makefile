# heymarket-bridge developer commands. Each target creates the virtualenv (.venv) first if needed,
# so `make demo` and `make test` work on a fresh clone with only python3 (>= 3.11) on PATH.
#
#   make demo     run the whole pipeline locally (moto + Heymarket sandbox) and print a summary
#   make test     lint, type-check, validate and build the template, run every test (unit and integration
#                 tests also on a python3.13, the functions' runtime, when one is installed)
#   make bench    benchmarks (figures printed, nothing asserted on speed)
#   make soak     the long guarantee tests: 10,000 webhooks, every fault at once, more fuzzing
#   make local    the local stack in the foreground, for curl (Ctrl-C stops it)
#   make docs     build the docs site (docs/, mkdocs.yml) into site/, failing on a broken link, anchor or nav entry
#   make lock     pin the Lambda layer's packages (layers/requirements.txt) with hashes in layers/requirements.lock

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keep every tool run offline and quiet: no telemetry, no update checks, no real AWS profile.
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_DISABLE_UPDATE_CHECK := 1
# Material for MkDocs prints a banner about its successor on every build.
export NO_MKDOCS_2_WARNING := 1

# The functions run on python3.13: `make test` runs the unit, integration and tools tests on one as well, in $(VENV313),
# when it finds one (PYTHON313, python3.13 on PATH, or pyenv's 3.13), and says so when it does not.
PYTHON313 ?=
VENV313 ?= .venv313
FIND_PYTHON313 = for candidate in $(PYTHON313) python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	if "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then \
		echo "$$candidate"; break; \
	fi; \
done
# uv resolves the layer's packages for the Lambda platform (cp313, manylinux2014 aarch64) from any machine;
# installed by `make lock` only.
UV_VERSION := 0.13.9
LOCK := layers/requirements.lock
# Every virtualenv gets the layer's exact packages first (checked against their hashes); phonenumbers, which
# provides the same module as the layer's phonenumberslite, is removed from virtualenvs made before the lock.
define install-lock
$(1)/bin/python -m pip uninstall --quiet --yes phonenumbers 2>/dev/null || true
$(1)/bin/python -m pip install --quiet --disable-pip-version-check --no-compile --require-hashes --no-deps -r $(LOCK)
endef

.PHONY: venv venv-local demo local test lint typecheck template docs pytest pytest313 bench soak clean lock

# Two stamps: `make demo` needs only the local stack's packages (seconds to install); `make test` adds the
# test and lint tools (aws-sam-cli is the big one). Either is redone when pyproject.toml changes.
venv: $(VENV)/.installed-dev
venv-local: $(VENV)/.installed-local

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# --no-compile: pip would otherwise compile every module of moto and botocore (half the install time of a fresh
# `make demo`); Python compiles, on first import, only the modules the demo actually uses.
$(VENV)/.installed-local: pyproject.toml $(LOCK) | $(BIN)/python
	$(call install-lock,$(VENV))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) | $(BIN)/python
	$(call install-lock,$(VENV))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed-local

$(VENV313)/.installed: pyproject.toml $(LOCK)
	@test -n "$(PY313)" || { echo "PY313 is not set: run make test" >&2; exit 2; }
	test -x $(VENV313)/bin/python || "$(PY313)" -m venv $(VENV313)
	$(call install-lock,$(VENV313))
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

demo: venv-local
	$(BIN)/heymarket-bridge demo

local: venv-local
	$(BIN)/heymarket-bridge local

test: lint typecheck template docs pytest pytest313

# lint-imports holds the direction of imports (pyproject's [tool.importlinter]; docs/architecture.md): no cycle,
# app -> adapters -> {ingest, sync} -> domain, the sandbox standalone, the product never importing the tools.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers:tools $(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

# cfn-lint, SAM's own linter, and a real `sam build` (the layer is built for python3.13 arm64 with pip's
# --platform download, so neither Docker nor a local python3.13 is needed).
template: venv
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint
	VIRTUAL_ENV=$(abspath $(VENV)) PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build

# --strict (also set in mkdocs.yml): a broken link or anchor, or a page left out of the nav, fails the build (not
# with --quiet, which hides the warnings strict mode counts). The command examples in the pages are run by the tests
# (tests/docs_examples.py).
docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

# Four workers (pytest-xdist): the tests mostly wait, so this halves the run even on two cores.
PYTEST_WORKERS ?= 4

pytest: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# The product's suite (tests/unit and tests/integration) on python3.13, the functions' runtime. On the first
# interpreter only, to keep `make test` short: the e2e tests (the same handlers through the local stack), the tools'
# tests (the sandbox, the local stack and the command run on the developer's python, not on Lambda), and the outage
# test (a 30 s run of the same sync code the unit and integration tests cover on 3.13; its 1,000-contact version is
# `make soak`).
pytest313:
	@py="$$($(FIND_PYTHON313))"; \
	if [ -z "$$py" ]; then \
		echo "NOT TESTED ON PYTHON 3.13: no python3.13 found (PYTHON313, python3.13 on PATH, ~/.pyenv/versions/3.13*);" \
			"the tests ran on $$($(BIN)/python -V 2>&1) only. Install one, or set PYTHON313=/path/to/python3.13."; \
	else \
		echo "the unit and integration tests again, on $$("$$py" -V 2>&1) ($$py)"; \
		$(MAKE) --no-print-directory $(VENV313)/.installed PY313="$$py" && \
		$(VENV313)/bin/pytest -n $(PYTEST_WORKERS) tests/unit tests/integration \
			--ignore=tests/integration/test_outage.py; \
	fi

# Re-pin the layer's packages: edit the ranges in layers/requirements.txt, run this, commit both files.
lock: venv
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile layers/requirements.txt --python-version 3.13 --python-platform aarch64-manylinux2014 \
		--only-binary :all: --generate-hashes --custom-compile-command "make lock" --quiet --output-file $(LOCK)

bench: venv
	$(BIN)/python -m benchmarks

soak: venv
	$(BIN)/pytest -m soak

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache build *.egg-info .local site
