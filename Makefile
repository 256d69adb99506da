# Berth: `make run` serves the site and registry; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Test processes (pytest-xdist): most tests wait on servers, clients and browsers, so three
# keep two cores busy. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
# schemathesis's generated tests report as one test under xdist: they run in a process of their own.
SCHEMA_TESTS := tests/gallery/api/test_schema.py

.DEFAULT_GOAL := help
.PHONY: help install install-test run migrate test test-s3 lint fmt bench bench-gc clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## create .venv and install Berth

install-test: $(VENV)/.installed-test ## install Berth and what the tests need

migrate: install ## apply database migrations
	$(BIN)/python manage.py migrate --noinput

run: migrate ## serve site and registry with gunicorn on http://127.0.0.1:8000 (HOST=, PORT=)
	@echo "Berth on http://$(HOST):$(PORT)/  (create a user: $(BIN)/python manage.py createsuperuser)"
	$(BIN)/gunicorn --config deploy/gunicorn.conf.py --bind $(HOST):$(PORT) gallery.wsgi

test: install-test ## run the whole test suite (CI=true: nothing may skip)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_PARALLEL) --ignore=$(SCHEMA_TESTS)
	$(BIN)/pytest $(SCHEMA_TESTS)

test-s3: install-test ## the registry suite with every blob on S3 (moto's server on loopback)
	BERTH_TEST_BLOBS=s3 $(BIN)/pytest $(PYTEST_PARALLEL) -m "not clients" tests/registry

lint: install-test ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install-test ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-test ## benchmarks: registry, cache and replication vs the reference, search, scanning, archive import
	$(BIN)/python tests/bench/run.py
	$(BIN)/python tests/bench/cache.py
	$(BIN)/python tests/bench/gallery.py
	$(BIN)/python tests/bench/scanning.py
	$(BIN)/python tests/bench/imports.py

bench-gc: install-test ## garbage collection racing pushes and mounts for a minute (a soak)
	$(BIN)/python tests/bench/gc_soak.py --seconds 60

clean: ## remove the virtualenv (the data directory ./var is kept)
	rm -rf $(VENV)
