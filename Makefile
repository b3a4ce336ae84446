# make run   serve on the SQLite default (http://127.0.0.1:5000/graphql)
# make test  install what the tests need and run them
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint system-deps tools bench bench-bounds bench-journal bench-watch bench-several bench-redis bench-instructions screenshots clean

$(INSTALLED): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./clients/python -e '.[test]'
	touch $@

install: $(INSTALLED)

run: install
	$(VENV)/bin/gunicorn --config deploy/gunicorn.conf.py 'app:create_app()'

# Debian packages, as command:package: redis-server for the Redis store's tests, wrk for
# the benchmark, shellcheck for deploy/install.sh, promtool (in the prometheus package) for
# the alert rules, Prometheus' config and the dashboard's queries, chromium for the
# /dashboard page's browser tests (Playwright drives it; no browser is downloaded).
# Recommends stay out: the prometheus package's would bring a node exporter. newman (npm)
# runs the Postman collection for real; a check whose tool could not be installed says so
# and skips.
SYSTEM_TOOLS := redis-server:redis-server wrk:wrk shellcheck:shellcheck promtool:prometheus \
	chromium:chromium etcd:etcd-server
NEWMAN := .tools/node_modules/.bin/newman

system-deps:
	@missing=""; \
	for pair in $(SYSTEM_TOOLS); do \
		command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

tools:
	@[ -x $(NEWMAN) ] || { echo "installing newman"; \
		npm install --prefix .tools --no-audit --no-fund --loglevel=error newman@6.2.2 >/dev/null; } \
		|| echo "warning: newman not installed; the Postman collection runs in the Python runner only"

lint: install
	$(VENV)/bin/ruff check app tests bench clients
	$(VENV)/bin/ruff format --check app tests bench clients
	$(VENV)/bin/mypy app clients/python/src clients/python/tests

test: install system-deps tools lint
	$(PY) -m pytest

bench: install system-deps
	$(PY) -m bench.acquire_vs_healthz

bench-bounds: install system-deps
	$(PY) -m bench.bounds

# The journal, metrics and logs against the tree before them (a git worktree of it).
bench-journal: install system-deps
	$(PY) -m bench.journal_metrics

bench-watch: install system-deps
	$(PY) -m bench.watch_latency

bench-several: install system-deps
	$(PY) -m bench.several

bench-redis: install system-deps
	$(PY) -m bench.redis_topologies

# valgrind only for this bench: the tests never need it.
bench-instructions: install
	@command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }
	$(PY) -m bench.instructions

# The dashboard's screenshots in docs/img, as the README shows them.
screenshots: install system-deps
	OBJMGR_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/live/test_dashboard.py -k screenshots

clean:
	rm -rf $(VENV) .tools var .pytest_cache .ruff_cache .hypothesis
