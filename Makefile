# Cairn: `make demo` runs it with demo data on SQLite; `make test` passes the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=
DEMO_ENV := DEBUG=1 CELERY_BROKER_URL=filesystem://

.PHONY: install demo serve test lint format bench clean

$(BIN)/.installed: pyproject.toml core/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e './core[client]' -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input -v0
	$(DEMO_ENV) $(BIN)/python manage.py load_demo --base-url http://127.0.0.1:$(PORT)
	@$(MAKE) --no-print-directory serve

# The web server, a Celery worker and beat, stopped together by Ctrl-C.
serve: install
	@mkdir -p var/celery/queue var/celery/processed var/celery/results
	@trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(DEMO_ENV) $(BIN)/celery -A config worker --loglevel=WARNING --concurrency=2 & \
	$(DEMO_ENV) $(BIN)/celery -A config beat --loglevel=WARNING & \
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .ruff_cache .mypy_cache *.egg-info
