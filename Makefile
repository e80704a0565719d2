# faqbot — `make help` lists the targets.
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
#: Every folder of Python code (ruff); mypy's are in pyproject.toml.
PY_DIRS := bot actions channels scripts tests

.PHONY: help install install-dev run cluster test test-fast lint kb train bench bench-scale soak clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## create .venv (Python 3.10) and install faqbot
	@scripts/bootstrap.sh

install-dev: ## install plus test tools and Chromium
	@scripts/bootstrap.sh --dev

run: install ## start the whole bot: Rasa :5005, actions :5055, web :8000 (Ctrl-C stops)
	@$(VENV)/bin/faqbot run

test: lint ## lint, types and layers, then the whole test suite (unit, integration with real servers, browser)
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install-dev ## only the tests that need no model and no server
	@$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

lint: install-dev ## ruff (lint and format), mypy and the layer contracts (import-linter, pyproject.toml)
	@$(VENV)/bin/ruff check $(PY_DIRS)
	@$(VENV)/bin/ruff format --check $(PY_DIRS)
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports

kb: install ## validate the knowledge base and rebuild its index if stale
	@$(VENV)/bin/faqbot kb validate && $(VENV)/bin/faqbot kb build --if-stale

train: install ## train the Rasa model if config, domain or data changed
	@$(VENV)/bin/faqbot train

bench: install ## answer quality and speed on ../shared/bench, peers side by side -> docs/benchmarks.md
	@$(PY) scripts/bench.py $(BENCH_ARGS)
	@$(PY) scripts/bench_live.py

bench-scale: install ## cost against KB size: XQuAD-R en + 1k..100k distractors, approximate index recall -> docs/benchmarks.md, docs/scaling.md
	@$(PY) scripts/bench_scale.py --ann $(SCALE_ARGS)

soak: install-dev ## load + 10-minute soak of the whole bot (locust); SOAK_BASELINE=<commit> runs that one first
	@rm -f docs/benchmarks-load.json
	@if [ -n "$(SOAK_BASELINE)" ]; then \
	  $(PY) scripts/soak.py --ref $(SOAK_BASELINE) --users 8 --think 0 --duration 90 --label "saturation, baseline" --out docs/benchmarks-load.json && \
	  $(PY) scripts/soak.py --ref $(SOAK_BASELINE) --users 50 --think 5 --duration 180 --label "50 conversations, baseline" --out docs/benchmarks-load.json; fi
	@$(PY) scripts/soak.py --users 8 --think 0 --duration 90 --label saturation --out docs/benchmarks-load.json
	@$(PY) scripts/soak.py --users 50 --think 5 --duration $${SOAK_SECONDS:-600} --label "50 conversations" --out docs/benchmarks-load.json
	@$(PY) scripts/soak.py --report docs/benchmarks-load.json

clean: ## remove built indexes, models, databases and logs (keeps .venv)
	rm -rf var models .pytest_cache test-artifacts
