# Two commands for a fresh clone: `make run` and `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
# Compile bytecode at install, as pip does: without it every `mailhooks` command compiles
# its libraries again wherever bytecode is not written (PYTHONDONTWRITEBYTECODE).
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint typecheck check bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

## Start the receiver on SQLite (~/.local/share/mailhooks/mailhooks.db); creates a `default`
## endpoint on first start.
run: $(VENV)/.synced
	$(VENV)/bin/mailhooks serve

## Install dev dependencies and run the whole test suite.
test: $(VENV)/.synced
	$(VENV)/bin/pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy --strict src examples/typed_core.py examples/flask_app/app.py examples/fastapi_app/main.py

check: lint typecheck test

## Ingest benchmark (needs `wrk`: apt-get install -y wrk).
bench: $(VENV)/.synced
	$(VENV)/bin/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) $(TOOLS)
