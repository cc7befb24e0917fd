# One-command set-up. `make test` and `make demo` create or refresh .venv from requirements.txt, then run.
# The install is skipped when neither requirements.txt nor pyproject.toml changed (stamp keyed on their hash).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
PYTEST_ARGS ?=

.PHONY: test demo venv clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo "== installing pinned requirements into $(VENV) (requirements hash $(REQ_HASH))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

test: $(STAMP)
	@start=$$(date +%s); $(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	echo "== make test: $$(( $$(date +%s) - start )) s wall time (pytest exit status $$status)"; exit $$status

demo: $(STAMP)
	$(PY) -m handobjectconsist.demo

clean-venv:
	rm -rf $(VENV)
