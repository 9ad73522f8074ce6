# Fresh clone -> `make plan STACK=dev` (creates .venv, installs, prints the plan) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= dev
STAMP  := $(VENV)/.installed

.PHONY: plan plan-json test bench check-stacks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

plan: $(STAMP)
	$(BIN)/tpustack plan --stack $(STACK)

plan-json: $(STAMP)
	$(BIN)/tpustack plan --stack $(STACK) --json

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python tests/bench_plan.py

.PHONY: bench-heartbeat
bench-heartbeat: $(STAMP)
	$(BIN)/python tests/bench_heartbeat.py

clean:
	rm -rf $(VENV) .pytest_cache
