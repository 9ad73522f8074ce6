# Fresh clone -> `make plan STACK=dev` (creates .venv with only what planning needs, prints the plan) and
# `make test` (adds the test extras: torch, jax, the GCS emulator...). Installs are pinned by .ci/lock/*.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STACK  ?= dev
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

PLAN_STAMP := $(VENV)/.installed-plan
TEST_STAMP := $(VENV)/.installed-test
LINT_STAMP := $(VENV)/.installed-lint

# The real benchmark clients (vllm bench serve, inference-perf) against a loopback server; their venvs are cached
# in .cache/clients.
.PHONY: plan plan-json test test-floors test-clients lint bench bench-heartbeat check-stacks lock wheel clean docs-frontier

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PLAN_STAMP): pyproject.toml .ci/lock/plan.txt | $(BIN)/python
	$(PIP) install -c .ci/lock/plan.txt -e .
	touch $@

$(TEST_STAMP): $(PLAN_STAMP) .ci/lock/test.txt
	$(PIP) install -c .ci/lock/test.txt -e '.[test]'
	touch $@

$(LINT_STAMP): $(PLAN_STAMP) .ci/lock/test.txt
	$(PIP) install -c .ci/lock/test.txt -e '.[test,lint]'
	touch $@

plan: $(PLAN_STAMP)
	$(BIN)/tpustack plan --stack $(STACK)

plan-json: $(PLAN_STAMP)
	$(BIN)/tpustack plan --stack $(STACK) --json

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# The layering contracts, lint, types and complexity (no function above 20) run on the installed (wheel) layout, where components/ and workloads/
# are tpustack.components / tpustack.workloads.
lint: $(LINT_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/xenon --max-absolute C tpustack components workloads
	rm -rf build/lint && $(PIP) install --no-deps --no-compile --target build/lint .
	cd build/lint && ../../$(BIN)/mypy -p tpustack
	cd build/lint && PYTHONPATH=. ../../$(BIN)/lint-imports --config ../../pyproject.toml

# The dependency floors of pyproject.toml, proven: a venv with the oldest allowed versions runs the plan tests.
test-floors:
	bash .ci/floors

test-clients: $(TEST_STAMP)
	$(BIN)/python tests/helpers/clients.py
	$(BIN)/python -m pytest -o addopts= -q -m clients tests/integration/test_clients.py

bench: $(PLAN_STAMP)
	$(BIN)/python tests/bench_plan.py

bench-heartbeat: $(TEST_STAMP)
	$(BIN)/python tests/bench_heartbeat.py

# README's frontier picture, made from the shipped sweep fixtures (tests/fixtures/sweep) by `tpustack recommend`.
docs-frontier: $(TEST_STAMP)
	rm -rf build/docs-frontier
	$(BIN)/tpustack recommend tests/fixtures/sweep --slo 'ttft:p99<=500ms,tpot:p99<=50ms' --rps 20 \
		--input-len 1024 --output-len 128 --out build/docs-frontier
	cp build/docs-frontier/frontier.png docs/frontier.png

wheel: $(PLAN_STAMP)
	rm -rf dist && $(PIP) wheel --no-deps -w dist .

# Regenerate the lock files from pyproject.toml (pip-tools). torch keeps the plain version, which both the CPU
# wheel on CI machines (2.13.0+cpu) and PyPI's satisfy.
lock: $(PLAN_STAMP)
	$(PIP) install 'pip-tools>=7.4'
	$(BIN)/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links \
		-o .ci/lock/plan.txt pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links \
		--extra ops --extra hub --extra test --extra lint -o .ci/lock/test.txt pyproject.toml
	sed -i 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' .ci/lock/test.txt
	# the test extra names tpustack[ops]; a constraint on tpustack itself would clash with `-e .`
	sed -i '/^tpustack @ /,+1d' .ci/lock/test.txt

clean:
	rm -rf $(VENV) .pytest_cache build dist
