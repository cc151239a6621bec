# weapp-login — the index of commands. `make run` serves on embedded defaults; `make test` checks all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PIP_INSTALL := $(BIN)/pip install -q --disable-pip-version-check --require-hashes
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' --quiet $(if $(UPGRADE),--upgrade)
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0

.PHONY: help install lock system-deps run migrate test test-python test-client lint check-dists bench clean

help:
	@echo "make run      start the service on embedded defaults (simulator, memory sessions, SQLite)"
	@echo "make test     install what is missing, then run every test (real Redis and MariaDB)"
	@echo "make migrate  apply the database migrations to DATABASE_URL"
	@echo "make lint     ruff, mypy --strict (domain, adapters, entrypoints, settings, container) and the architecture contracts"
	@echo "make lock     regenerate requirements.lock and requirements-dev.lock (hashed)"
	@echo "make bench    the benchmark (docs/PERFORMANCE.md)"

# Two locks, both with hashes: requirements.lock is what the service runs on (every database
# driver included, so any DATABASE_URL works); requirements-dev.lock adds the test, lint and lock
# tools at the same pins. Each has its stamp, so `make run` never installs the dev set.
$(RUN_STAMP): requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.lock
	touch $(RUN_STAMP)

$(DEV_STAMP): requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-dev.lock
	touch $(DEV_STAMP)

install: $(RUN_STAMP)

# Regenerate both locks from pyproject.toml (pins already in them are kept unless UPGRADE=1).
lock: $(DEV_STAMP)
	$(UV_COMPILE) --extra mysql --extra postgresql --extra sqlite -o requirements.lock
	$(UV_COMPILE) --all-extras -c requirements.lock -o requirements-dev.lock

# Debian packages the tests start their own throw-away servers from.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	{ command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd; } || missing="$$missing mariadb-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	{ command -v nginx >/dev/null || test -x /usr/sbin/nginx; } || missing="$$missing nginx"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(APT_GET) update >/dev/null && $(APT_GET) install --no-install-recommends $$missing >/dev/null; \
	fi

# `domain`, `adapters` and `entrypoints` are also PyPI names: none may shadow ours.
check-dists: $(RUN_STAMP)
	@! $(BIN)/pip list --format=freeze 2>/dev/null | grep -iE '^(domain|adapters|entrypoints|container|settings)==' \
		|| { echo "a PyPI distribution shadows a project package"; exit 1; }

run: $(RUN_STAMP)
	$(BIN)/python -m entrypoints

migrate: $(RUN_STAMP)
	$(BIN)/python -m adapters.sqlalchemy.migrate

test: system-deps $(DEV_STAMP) check-dists
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q
	@if [ -d clients/weapp/test ]; then $(MAKE) --no-print-directory test-client; fi

# The client's one dev dependency, TypeScript (pinned in its package-lock.json), checks its
# index.d.ts in the tests: `npm ci` runs only when it is not installed or the lock changed.
CLIENT := clients/weapp
$(CLIENT)/node_modules/.package-lock.json: $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error

test-client: $(RUN_STAMP) $(CLIENT)/node_modules/.package-lock.json
	cd $(CLIENT) && WEAPP_PYTHON=$(CURDIR)/$(BIN)/python WEAPP_REQUIRE_TSC=1 node --test test/

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The benchmark (docs/PERFORMANCE.md): about 15 minutes, all on loopback. wrk and the
# bench's own tools (bench/requirements.txt) are installed here only: the tests do not need them.
bench: system-deps $(DEV_STAMP) check-dists
	@command -v wrk >/dev/null || { echo "installing: wrk"; \
		$(APT_GET) update >/dev/null && $(APT_GET) install --no-install-recommends wrk >/dev/null; }
	$(BIN)/pip install -q --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
