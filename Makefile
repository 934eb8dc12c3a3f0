# The two commands a newcomer needs: `make run` (start the service) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The matching core compiled with mypyc (same source, native classes): what production
# runs and what the benchmarks measure. Tests run against both builds. Every module of
# the engine package is here except the msgspec types (commands, events) and the ledger;
# tests/conftest.py reads this list to check the compiled run imports each of them
# compiled, and tests/unit/test_engine_package.py that no engine module is left out.
COMPILED := build/compiled
CORE_MODULES := engine/engine.py engine/pipeline.py engine/rules.py engine/risk.py \
	engine/matching.py engine/settlement.py engine/release.py engine/stops.py \
	engine/stopbook.py engine/transfers.py engine/markets.py engine/restore.py \
	engine/emit.py engine/state.py engine/book.py engine/holds.py engine/accounts.py \
	engine/order.py engine/image.py
CORE_SOURCES := $(addprefix src/trade_engine/,$(CORE_MODULES))
# ccxt drives the Binance-compatible API in the tests. It pins exact versions of its own
# dependencies, which clash with ours, so it gets a virtual environment of its own.
CCXT_VERSION := 4.5.90
CCXT_VENV := .venv-ccxt
CCXT_STAMP := $(CCXT_VENV)/.installed-$(CCXT_VERSION)
# Binance's own Python connector and the community python-binance drive the same API in
# the tests, each from a virtual environment of its own for the same reason.
PYTHON_BINANCE_VERSION := 1.0.37
PYTHON_BINANCE_VENV := .venv-python-binance
PYTHON_BINANCE_STAMP := $(PYTHON_BINANCE_VENV)/.installed-$(PYTHON_BINANCE_VERSION)
CONNECTOR_VERSION := 3.13.0
CONNECTOR_VENV := .venv-binance-connector
CONNECTOR_STAMP := $(CONNECTOR_VENV)/.installed-$(CONNECTOR_VERSION)
CLIENT_STAMPS := $(CCXT_STAMP) $(PYTHON_BINANCE_STAMP) $(CONNECTOR_STAMP)

.PHONY: run test tests lint typecheck unit-compiled compiled bench bench-durable bench-http bench-ws \
	bench-cluster bench-revisions bench-workload chaos clean postgres nats wrk ccxt binance-clients browser screenshots fuzz promtool

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPILED)/.built: $(STAMP) $(shell find src -name '*.py')
	rm -rf $(COMPILED)
	mkdir -p $(COMPILED)
	cp -r src/trade_engine $(COMPILED)/
	cd $(COMPILED) && $(CURDIR)/$(BIN)/mypyc $(addprefix trade_engine/,$(CORE_MODULES)) > mypyc.log 2>&1 \
		|| (cat mypyc.log; exit 1)
	touch $@

compiled: $(COMPILED)/.built

$(CCXT_STAMP):
	test -x $(CCXT_VENV)/bin/python || $(PYTHON) -m venv $(CCXT_VENV)
	$(CCXT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CCXT_VENV)/bin/python -m pip install --quiet ccxt==$(CCXT_VERSION)
	touch $@

ccxt: $(CCXT_STAMP)

$(PYTHON_BINANCE_STAMP):
	test -x $(PYTHON_BINANCE_VENV)/bin/python || $(PYTHON) -m venv $(PYTHON_BINANCE_VENV)
	$(PYTHON_BINANCE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON_BINANCE_VENV)/bin/python -m pip install --quiet python-binance==$(PYTHON_BINANCE_VERSION)
	touch $@

$(CONNECTOR_STAMP):
	test -x $(CONNECTOR_VENV)/bin/python || $(PYTHON) -m venv $(CONNECTOR_VENV)
	$(CONNECTOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONNECTOR_VENV)/bin/python -m pip install --quiet binance-connector==$(CONNECTOR_VERSION)
	touch $@

# Every client library the Binance-compatible API is tested with.
binance-clients: $(CLIENT_STAMPS)

# Start the service on its embedded default (SQLite under ./data, default markets),
# running the compiled core. Prints where the docs are and how to get a token.
run: compiled
	@echo "Web page:  http://127.0.0.1:8000/       (trading and operator views)"
	@echo "API docs:  http://127.0.0.1:8000/docs   (OpenAPI: /openapi.json)"
	@echo "A token:   .venv/bin/trade-engine token --user alice            (trader)"
	@echo "           .venv/bin/trade-engine token --user ops --role admin  (admin)"
	PYTHONPATH=$(COMPILED) $(BIN)/trade-engine --config config/default.yaml serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

postgres:
	bash scripts/postgres-up.sh

# nats-server 2.10 into .tools/ for the cluster tests (tests/cluster start their own servers).
nats:
	bash scripts/nats-up.sh

# wrk, the load generator of bench-http and bench-revisions.
wrk:
	bash scripts/wrk-up.sh

# promtool, for the alert rules' tests (deploy/prometheus-alerts.test.yml).
promtool:
	bash scripts/promtool-up.sh

# Debian's Chromium and ChromeDriver, for the web page tests (tests/e2e/web).
browser:
	bash scripts/browser-up.sh

tests: $(STAMP) $(CLIENT_STAMPS) postgres nats browser promtool
	$(BIN)/pytest -q --durations=25

# The engine's tests once more against the compiled core (tests/conftest.py checks
# that the compiled modules are the ones imported).
unit-compiled: compiled
	TRADE_ENGINE_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED) $(BIN)/pytest -q -p no:cacheprovider tests/unit tests/property

test: lint typecheck tests unit-compiled

bench: compiled
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/engine.py

# The field's neutral workload (flash1-dev/matching-engine-benchmark, vendored generator,
# built as upstream's CMake does) replayed on the engine alone, each scenario checked
# against the harness's published hash of its report stream (a mismatch fails).
# SCENARIOS to pick (default: all five; `static` is the deep book), BENCH_ARGS e.g.
# --runs 5.
WORKLOAD := build/workload
SCENARIOS ?= static normal swing-25 swing-40 flash-crash
bench-workload: compiled $(addprefix $(WORKLOAD)/orders_,$(addsuffix .bin,$(SCENARIOS)))
	for scenario in $(SCENARIOS); do \
		PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/workload.py \
			$(WORKLOAD)/orders_$$scenario.bin --scenario $$scenario $(BENCH_ARGS) || exit 1; \
	done

$(WORKLOAD)/generator: benchmarks/third_party/mebw_generator.cpp
	command -v g++ >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends g++ >/dev/null)
	mkdir -p $(WORKLOAD)
	g++ -O3 -std=gnu++20 -o $@.tmp $< && mv $@.tmp $@

# Written aside and renamed: a generator stopped part-way leaves no file make trusts.
$(WORKLOAD)/orders_%.bin: $(WORKLOAD)/generator
	$(WORKLOAD)/generator $* $@.tmp && mv $@.tmp $@

# Through the sequencer into SQLite and PostgreSQL: durable throughput and restart time.
# BENCH_ARGS=--quick for a smoke run.
bench-durable: compiled postgres
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/durable.py $(BENCH_ARGS)

# WebSocket fan-out: 1,000 clients (4 processes) on one market's trades and book while
# 1,000 orders/s flow over HTTP. BENCH_ARGS e.g. --seconds 5 --connections 50 for a smoke run.
bench-ws: compiled
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/ws_fanout.py $(BENCH_ARGS)

# The long contract run: schemathesis with every check, about 13,000 generated requests
# per database (make test runs the same with a small cap). FUZZ_SEED picks another run.
fuzz: $(STAMP) postgres
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-350} FUZZ_TIMEOUT_SECONDS=$${FUZZ_TIMEOUT_SECONDS:-3600} \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/e2e/test_schemathesis.py

# docs/screenshot-trading.png and docs/screenshot-operator.png: a server with a few
# minutes of trading (SCREENSHOT_MINUTES, default 3: one candle a minute), in Chromium.
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.e2e.web.screenshots

clean:
	rm -rf $(VENV) $(CCXT_VENV) $(PYTHON_BINANCE_VENV) $(CONNECTOR_VENV) build .mypy_cache .pytest_cache .ruff_cache

# Orders over HTTP against a real server (SQLite and PostgreSQL), load generator included.
bench-http: compiled postgres wrk
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/http.py $(BENCH_ARGS)

# This tree against an older revision, side by side (benchmarks/revisions.py): the
# engine, orders over HTTP (wrk) and WebSocket fan-out, runs interleaved, medians.
bench-revisions: compiled wrk
	$(BIN)/python benchmarks/revisions.py --old $(OLD) $(BENCH_ARGS)

# The cluster (docs/cluster.md) against `serve`: takeover time with many resting orders,
# orders/s through one and two gateways, CPU per role. BENCH_ARGS=--quick for a smoke run.
bench-cluster: compiled postgres nats
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/cluster.py $(BENCH_ARGS)

# The long loops. First `serve` killed with SIGKILL at random instants CRASH_ROUNDS=50
# times per database (make test kills it 8 times), every acknowledged fact checked after
# each restart. Then the failover loop: random kills of the active core under load,
# every check after each (make test runs three crash points and two random kills),
# CHAOS_KILLS=10 by default; then CHAOS_FORMATIONS=20 three-node NATS clusters started at
# once, streams set up on each.
chaos: compiled postgres nats
	CRASH_ROUNDS=$${CRASH_ROUNDS:-50} PYTHONPATH=$(COMPILED) $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_crash.py
	PYTHONPATH=$(COMPILED) $(BIN)/python benchmarks/cluster.py --chaos-only $(BENCH_ARGS)
