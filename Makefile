# make run   serve on the SQLite default (http://127.0.0.1:5000/graphql)
# make test  install what the tests need and run them
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint system-deps bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

run: install
	$(VENV)/bin/gunicorn --config deploy/gunicorn.conf.py 'app:create_app()'

# redis-server for the Redis store's tests, wrk for the benchmark.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: install
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/ruff format --check app tests bench

test: install system-deps lint
	$(PY) -m pytest

bench: install system-deps
	$(PY) bench/acquire_vs_healthz.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
