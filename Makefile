# Verity: `make run` sets up and starts the platform; `make test` installs and runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-test migrate worker web demo-users bench-inference check clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Verity needs Python 3.11 (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

# Test tools (pytest, Playwright, schemathesis, moto) live in requirements-test.txt: the production image lacks them.
$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

install-test: $(VENV)/.installed-test

migrate: install
	$(PY) manage.py migrate --noinput

demo-users: migrate
	$(PY) manage.py create_demo_users

## Set up everything on embedded defaults (SQLite, local media, SQLite broker) and start web + worker.
run: migrate
	$(PY) manage.py ensure_default_model
	$(PY) manage.py create_demo_users
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bash platform/run-dev.sh

worker: install
	$(PY) -m celery -A config worker -Q inference,prepare,sweep,default,training --concurrency 1 -l info

web: install
	$(PY) manage.py runserver $(HOST):$(PORT)

## Install and run the whole suite (PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set).
# One process per core, at most 4, a test file's tests in one process; each process has its own test database,
# broker and cache (tests/xdist_isolation.py, which must load before Django's settings: hence -p).
PYTEST_PARALLEL ?= -p tests.xdist_isolation -n auto --maxprocesses=4 --dist loadfile

test: install-test
	$(PY) -m pytest $(PYTEST_PARALLEL)

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var .pytest_cache test-results
