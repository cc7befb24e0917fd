# One-command set-up. `make test` and `make demo` create or refresh .venv from requirements.txt, then run.
# `make help` lists the targets.
# The install is skipped when neither requirements.txt nor pyproject.toml changed (stamp keyed on their hash).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
PYTEST_ARGS ?=

.PHONY: help test lint demo venv clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 20

venv: $(STAMP)  ## create or refresh .venv from requirements.txt (skipped when up to date)

$(STAMP): requirements.txt pyproject.toml
	@echo "== installing pinned requirements into $(VENV) (requirements hash $(REQ_HASH))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

lint: $(STAMP)  ## ruff on the whole tree (rules in pyproject.toml); `.venv/bin/ruff check --fix .` fixes the safe ones
	$(VENV)/bin/ruff check .

test: lint  ## lint, then the whole test suite (PYTEST_ARGS="-k name" to select), with its wall time
	@start=$$(date +%s); $(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	echo "== make test: $$(( $$(date +%s) - start )) s wall time (pytest exit status $$status)"; exit $$status

demo: $(STAMP)  ## the whole pipeline on built-in synthetic data (checkpoints/demo)
	$(PY) -m handobjectconsist.demo

clean-venv:  ## remove .venv
	rm -rf $(VENV)
