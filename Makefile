# The same commands serve the README, CI (.ci/run) and developers.
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# the local stack's own redis-server: LOGOS_LOCAL_REDIS_PORT from the environment (.env.example), or
# `make paper LOCAL_REDIS_PORT=6390` (the command line wins)
LOGOS_LOCAL_REDIS_PORT ?= 6380
LOCAL_REDIS_PORT ?= $(LOGOS_LOCAL_REDIS_PORT)

export LOGOS_HOME ?= $(CURDIR)
export LOGOS_REDIS_URL ?= redis://127.0.0.1:$(LOCAL_REDIS_PORT)/0
export LOGOS_LOCAL_REDIS_PORT := $(LOCAL_REDIS_PORT)
export PATH := $(BIN):$(PATH)
# the local stack's kill-switch token: generated once, kept in .logos/ (never committed)
export RISK_CONTROL_TOKEN ?= $(shell mkdir -p .logos && { [ -s .logos/control-token ] || \
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > .logos/control-token; } && cat .logos/control-token)

.PHONY: help install paper replay secrets test lint format typecheck unit integration e2e bench lock clean screenshots

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## Create .venv with the pinned dependencies and make sure redis-server exists
	@scripts/bootstrap all

# make paper replays bundled bars through the whole stack; override any of these from the command line
paper: export FEED_PROVIDER ?= replay
paper: export FEED_REPLAY_FIXTURE ?= crypto_1m
paper: export FEED_REPLAY_SPEED ?= 20
paper: export ML_STRATEGY ?= sma_cross
paper: export ML_SIZING ?= notional:20000
paper: export RISK_CLOCK ?= data
# Ctrl-C stops the stack and the next make paper resumes its session; make paper FRESH=1 starts a fresh one
paper: install  ## Run the paper stack as local processes on replayed bars (Redis on 6380, dashboard on 8501; README: Ports)
	@logos secrets init --admin
	@logos secrets redis-acl --out "$${LOGOS_LOCAL_REDIS_DIR:-.logos/redis}/users.acl"
	logos stack run -f Procfile $(if $(FRESH),--fresh)

replay: install  ## Replay a bundled fixture as a paper session; exit 0 only if its trades equal the backtest's
	logos replay-check

secrets: install  ## Create the stack's secrets once in .logos/secrets (Redis passwords, signing keys): run before docker compose up
	logos secrets init --containers

test: install lint  ## Lint, type-check and run every test (what CI runs)
	@python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure, not a pass" >&2; exit 1; fi; \
	exit $$rc

lint: install  ## ruff, formatting, mypy and the import-layer contracts
	ruff check .
	ruff format --check .
	mypy
	lint-imports

format: install  ## Apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

unit: install  ## Only the fast tests (no Redis)
	python -m pytest tests/unit

integration: install  ## Only the tests against a real Redis
	python -m pytest tests/integration

e2e: install  ## Only the end-to-end tests (stack as processes; compose when Docker works)
	python -m pytest tests/e2e

bench: install  ## Benchmarks (not tests): the bus against raw redis-py, backtests against peer engines and end to end, the command line's start, the pipeline's latency and replay speed, the dashboard
	python -m pip install -q -c requirements.lock -e '.[dev,bench]'
	python bench/bus_throughput.py
	python bench/backtest_speed.py
	python bench/account_backtest.py
	python bench/cli_start.py
	python bench/portfolio_speed.py
	python bench/pipeline_latency.py
	python bench/dashboard_load.py
	python bench/executor_memory.py

screenshots: install  ## Refresh docs/img/dashboard_*.png: every dashboard page in headless Chromium
	LOGOS_SCREENSHOTS=$(CURDIR)/docs/img python -m pytest tests/ui/test_browser.py -q

lock: install  ## Re-pin the whole dependency tree into requirements.lock
	@{ echo "# The whole dependency tree, pinned. Regenerate with: make lock"; \
	   python -m pip freeze --exclude-editable | grep -iv '^logos=='; } > requirements.lock
	@echo "requirements.lock: install .[dev,bench] first so the lock pins every extra"

clean:  ## Remove the virtualenv, caches and local Redis data
	rm -rf $(VENV) .logos .pytest_cache .mypy_cache .ruff_cache
