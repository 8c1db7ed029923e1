# One command to run the gateway, one to test it. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test ci lint openapi bench soak clean

$(BIN)/gateway: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/gateway  ## set up and serve on http://127.0.0.1:8000 (SQLite + sandbox core; a demo month on first run)
	$(BIN)/gateway serve $(if $(wildcard gateway.db),,--demo)

demo: $(BIN)/gateway  ## add another demo month to the database
	$(BIN)/gateway demo

test: $(BIN)/gateway  ## set up and run the test suite on SQLite
	$(BIN)/pytest -q

ci:  ## everything CI runs: lint, types, OpenAPI drift, tests on SQLite and PostgreSQL
	bash .ci/run

lint: $(BIN)/gateway
	$(BIN)/ruff check gateway tests bench docs migrations/env.py
	$(BIN)/ruff format --check gateway tests bench docs migrations/env.py
	$(BIN)/mypy gateway

openapi: $(BIN)/gateway
	$(BIN)/gateway openapi export

bench: $(BIN)/gateway  ## every benchmark at small sizes beside its baseline (PostgreSQL ones need BENCH_DATABASE_URL)
	$(BIN)/python -m bench --json bench/results/latest.json

soak: $(BIN)/gateway  ## a 5-minute mixed signed workload against a real server, then the invariants
	$(BIN)/python -m bench.soak --minutes 5

clean:
	rm -rf $(VENV) gateway.db gateway.db-* .pytest_cache .mypy_cache .ruff_cache
