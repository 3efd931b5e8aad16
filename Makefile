# Two entry points for a fresh machine: `make up` (build every layer, serve on :5000) and
# `make test`. Both create .venv with Python >= 3.12 and install pinned dependencies.
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml constraints.txt assets/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "geopublish needs Python >= 3.12 (found " + sys.version.split()[0] + "): set PYTHON=/path/to/python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@command -v npm >/dev/null || { echo "geopublish serves its own web assets: install Node.js and npm"; exit 1; }
	npm ci --prefix assets --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

.PHONY: install up test lint
install: $(BIN)/.installed

up: $(BIN)/.installed
	$(BIN)/geopublish up

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(BIN)/.installed
	$(BIN)/ruff check geopublish tests bench
	$(BIN)/mypy geopublish
