# For a new machine with Python 3.11+: `make demo`, `make test`, `make serve`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test reliability serve lint bench clean

$(BIN)/retention: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/retention
	$(BIN)/retention demo

# Two workers (pytest-xdist): the suite's wall time about halves on two cores.
test: $(BIN)/retention
	$(BIN)/pytest -n 2

# Faults, kills, races, bad input, leaks (also part of `make test`); README "Guarantees".
reliability: $(BIN)/retention
	$(BIN)/pytest -m reliability

# A Prefect server and UI (http://127.0.0.1:4200), the deployments, a worker, on the demo.
serve: $(BIN)/retention
	$(BIN)/python deployments/local.py

lint: $(BIN)/retention
	$(BIN)/ruff check .
	$(BIN)/mypy retention connectors tasks flows bench tests deployments

bench: $(BIN)/retention
	$(BIN)/python bench/sql_sweep.py --rows 100000
	$(BIN)/python bench/s3_sweep.py --objects 2000

clean:
	rm -rf demo-data .retention deployments/id-north/.retention .prefect
