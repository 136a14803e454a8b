# The two commands of the README: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
WANGGE := $(BIN)/wangge
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test system venv db lint bench clean-db

demo: db
	$(WANGGE) demo build
	$(WANGGE) serve --host $(HOST) --port $(PORT)

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

system:
	@bash scripts/install-system.sh

venv: system $(VENV)/.installed node_modules/.installed

# Front-end assets come from the npm registry at set-up, pinned by package-lock.json; nothing is
# fetched from a CDN at run time. --ignore-scripts: no install-time analytics (@scarf/scarf).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

db: venv
	$(WANGGE) db start
	$(WANGGE) db migrate

lint: venv
	$(BIN)/ruff check .

bench: db
	@command -v wrk >/dev/null || (apt-get install -y -q wrk || sudo apt-get install -y -q wrk)
	mkdir -p bench/out && $(BIN)/python -m bench.run_all | tee bench/out/results.json

clean-db:
	-$(WANGGE) db stop
	rm -rf .pgdata
