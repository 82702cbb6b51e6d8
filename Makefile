# visitrank — two commands: `make run` and `make test`. Both set themselves up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= data/demo
OUT_DIR ?= out

.PHONY: setup run demo test lint typecheck unit clean bench real-data

# Azure app prerequisites: emulators (npm), ODBC drivers (apt), checkov (own venv)
include azure.mk

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

$(DEMO_DIR)/MV_Sales.parquet: | $(STAMP)
	$(BIN)/visitrank demo-data $(DEMO_DIR)

demo: $(DEMO_DIR)/MV_Sales.parquet

run: setup demo
	$(BIN)/visitrank run --source $(DEMO_DIR) --out $(OUT_DIR) --orders
	$(BIN)/visitrank evaluate --truth $(DEMO_DIR)/truth/opportunities.csv \
		--lists $(OUT_DIR)/visit_lists.jsonl --source $(DEMO_DIR)
	@echo "Visit lists: $(OUT_DIR)/visit_lists.jsonl  (run summary: $(OUT_DIR)/run_summary.json)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

unit: setup azure-deps
	$(BIN)/pytest -q

test: lint typecheck unit

# Performance benchmarks (not part of `make test`): make bench [SIZES="S M L XL"] [REPEAT=3]
SIZES ?= S M
REPEAT ?= 3
BENCH_DATA ?= data/bench
bench: setup
	$(BIN)/python -m bench.run --sizes $(SIZES) --repeat $(REPEAT) --data $(BENCH_DATA)

# The polars engine against the pandas reference (bench/pandas_reference.py), stage by stage,
# and whether they give the same Top-30 lists: make bench-reference [SIZES="S M"] [REPEAT=3]
bench-reference: setup
	$(BIN)/python -c "import pandas" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.compare_reference --sizes $(SIZES) --repeat $(REPEAT) --data $(BENCH_DATA)

# Real data (docs/real-data.md): the lists on The Complete Journey's stores with planted lost
# sales (5 seeds, at three catalogue cuts: a method must hold on each, not on one), the
# proposed orders on its households, and the real-vs-demo statistics
REAL_DIR ?= data/real
real-data: setup demo
	$(BIN)/python -m bench.real_data.list_eval --seeds 1 2 3 4 5
	$(BIN)/python -m bench.real_data.list_eval --seeds 1 2 3 4 5 --skus 150
	$(BIN)/python -m bench.real_data.list_eval --seeds 1 2 3 4 5 --skus 600
	$(BIN)/python -m bench.real_data.stores $(REAL_DIR)/stores --no-plant
	$(BIN)/python -m bench.real_data.shape $(DEMO_DIR) $(REAL_DIR)/stores
	$(BIN)/python -m bench.real_data.baskets $(REAL_DIR)/baskets
	$(BIN)/python -m bench.real_data.order_eval --source $(REAL_DIR)/baskets --no-scoring

clean:
	rm -rf $(OUT_DIR) data/demo .pytest_cache .mypy_cache .ruff_cache .venv .venv-tools node_modules
