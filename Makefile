# Cairn: `make demo` runs it with demo data on SQLite; `make test` passes the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=
VAR := $(or $(CAIRN_VAR_DIR),var)
# The demo runs as a deployment would: DEBUG off (API errors are the
# contract's JSON), static files served by WhiteNoise from VAR/staticfiles;
# CAIRN_DEMO=1 installs the demo app (its load_demo and demo_witnesses).
DEMO_ENV := CAIRN_DEMO=1 DEBUG=0 ALLOWED_HOSTS=127.0.0.1,localhost CELERY_BROKER_URL=filesystem:// \
	EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend

.PHONY: install lock demo serve test lint format bench clean

# Every distribution comes from the lock, pinned with its hashes (pip refuses
# any other file); then the project itself, from this clone, core included.
$(BIN)/.installed: pyproject.toml core/pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(BIN)/.installed

# After changing a dependency in pyproject.toml: rewrite the locks (uv, from
# the package index) and commit them with the change.
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes
lock: install
	$(LOCK) pyproject.toml requirements/build.in -o requirements/base.txt
	$(LOCK) --extra dev pyproject.toml requirements/build.in -o requirements/dev.txt

demo: install
	@$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input -v0
	@$(MAKE) --no-print-directory serve LOAD_DEMO=1

# The demo's two C2SP witnesses (`cairn witness serve`, contract §10), then
# (with LOAD_DEMO=1) the demo data, then the web server, a Celery worker and
# beat, all stopped together by Ctrl-C (any still there five seconds after
# SIGTERM are killed, with their children: a worker's pool processes). Every
# process is given the witnesses as LEDGER_WITNESSES, so each checkpoint is
# cosigned by both. The logins and instructions are printed once the server
# answers, after the servers' own start-up lines.
WITNESS_PORTS ?= $(shell echo $$(($(PORT) + 1101)) $$(($(PORT) + 1102)))
serve: install
	@mkdir -p $(VAR)/celery/queue $(VAR)/celery/processed $(VAR)/celery/results $(VAR)/celery/control
	@$(DEMO_ENV) $(BIN)/python manage.py collectstatic --no-input -v0
	@trap 'trap "" INT TERM; trap - EXIT; kill $$pids 2>/dev/null; \
	  for _ in 1 2 3 4 5 6 7 8 9 10; do alive=; for p in $$pids; do kill -0 $$p 2>/dev/null && alive=1; done; \
	    [ -z "$$alive" ] && break; sleep 0.5; done; \
	  for p in $$pids; do pkill -9 -P $$p 2>/dev/null; done; kill -9 $$pids 2>/dev/null; exit 0' \
	  INT TERM EXIT; \
	$(DEMO_ENV) $(BIN)/python manage.py demo_witnesses --ports $(WITNESS_PORTS) > $(VAR)/demo-witnesses.sh; \
	while read -r witness; do eval "$$witness 2>>$(VAR)/demo-witnesses.log &"; pids="$$pids $$!"; done \
	  < $(VAR)/demo-witnesses.sh; \
	export LEDGER_WITNESSES="$$(cat $(VAR)/demo/witnesses/ledger_witnesses.json)"; \
	$(DEMO_ENV) $(BIN)/python manage.py demo_witnesses --ports $(WITNESS_PORTS) --wait || exit 1; \
	if [ -n "$(LOAD_DEMO)" ]; then $(DEMO_ENV) $(BIN)/python manage.py load_demo --no-instructions 2>>$(VAR)/demo-load.log \
	  || { tail -n 40 $(VAR)/demo-load.log >&2; exit 1; }; echo "(the load's log, one JSON line per append: $(VAR)/demo-load.log)"; fi; \
	$(DEMO_ENV) $(BIN)/celery -A config --quiet worker --loglevel=WARNING --concurrency=2 & pids="$$pids $$!"; \
	$(DEMO_ENV) $(BIN)/celery -A config --quiet beat --loglevel=WARNING & pids="$$pids $$!"; \
	$(DEMO_ENV) $(BIN)/python manage.py runserver --noreload 127.0.0.1:$(PORT) & pids="$$pids $$!"; \
	$(DEMO_ENV) $(BIN)/python manage.py load_demo --instructions-only --wait --base-url http://127.0.0.1:$(PORT); \
	wait

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .ruff_cache .mypy_cache *.egg-info
