# The course's two README commands are `make book` and `make test`. Each one
# creates .venv from requirements.lock when it is missing or stale, then does
# its job. Nothing needs installing by hand.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader shells out to `alembic`, Jupyter looks up kernels on PATH: the venv comes first.
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
export MPLBACKEND := Agg

JOBS ?= $(shell nproc)
ASSIGNMENT ?=
STUDENTS ?=
# auto: bubblewrap sandbox per kernel where it can run; required: refuse where not; off
SANDBOX ?= auto

.PHONY: help venv book test bench lint format exercises grade lab clean experiments student-pack

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMP)  ## create or refresh .venv from requirements.lock

book: $(STAMP)  ## build the HTML book (executed chapters) into _build/html
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going
	@echo "Open _build/html/index.html"

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

bench: $(STAMP)  ## print benchmark medians and ratios (not a test)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

experiments: $(STAMP)  ## re-run the slow experiments, rewriting bncourse/experiments/results/*.json
	@for f in bncourse/experiments/ch*_*.py; do \
	  if grep -q '__main__' "$$f"; then m=$$(basename "$$f" .py); echo "== $$m"; \
	    $(BIN)/python -m bncourse.experiments.$$m; fi; done

lint: $(STAMP)  ## ruff lint and format check over code and notebooks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## apply ruff's formatter
	$(BIN)/ruff format .

exercises: $(STAMP)  ## regenerate exercises/ from solutions/ (nbgrader generate_assignment)
	$(BIN)/python -m bncourse.release

grade: $(STAMP)  ## autograde submitted/ into autograded/, feedback/ and grades.csv
	$(BIN)/python -m bncourse.grade --jobs $(JOBS) --sandbox $(SANDBOX) \
	  $(if $(ASSIGNMENT),--assignment "$(ASSIGNMENT)") $(if $(STUDENTS),--students "$(STUDENTS)")

student-pack: $(STAMP)  ## the learners' copy (no solutions/, no hidden cases) in _build/student-pack
	$(BIN)/python -m bncourse.pack

lab: $(STAMP)  ## open JupyterLab on exercises/ (nbgrader's Validate button enabled)
	$(BIN)/python -m bncourse.lab

clean:  ## remove build products and the venv
	rm -rf _build $(VENV) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
