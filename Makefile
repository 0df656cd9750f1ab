# spacelens developer commands. `make demo` and `make test` work on a fresh clone.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
STATIC  := src/spacelens/server/static/index.html
DEMO_HOME ?= $(CURDIR)/.demo-home

.PHONY: demo test venv web bench clean-demo help

help:
	@echo "make demo   set up .venv and run the demo on scikit-learn's digits (registry in .demo-home)"
	@echo "make test   set up .venv and run the test suite"
	@echo "make web    build the analyzer's front end (web/ -> src/spacelens/server/static, notebook/static)"
	@echo "make bench  run the benchmarks in bench/"

# torch is installed first and pinned: on CPU-only machines any other torch pulls CUDA wheels.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[pml,ui,dask,notebook,test]"
	touch $(STAMP)

venv: $(STAMP)

$(STATIC): $(shell find web -type f -not -path 'web/node_modules/*' 2>/dev/null)
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund && npm run build; fi

web: $(STATIC)

demo: venv web
	SPACELENS_HOME=$(DEMO_HOME) $(BIN)/python examples/demo.py
	SPACELENS_HOME=$(DEMO_HOME) $(BIN)/spacelens ls

# pyflakes rules first (an undefined name is a failing test waiting to happen), then the suite
test: venv web
	$(BIN)/ruff check --select F src tests bench examples
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python bench/track.py

clean-demo:
	rm -rf $(DEMO_HOME)
