# Two commands on a fresh machine with Python 3.12+, git and make:
#   make demo   installs, migrates, seeds a demo organisation and serves it
#   make test   installs and runs every check and the whole test suite
PYTHON ?= python3
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
# uv must use the interpreter we were given and never try to download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)

.PHONY: demo test install check lint format serve migrate seed clean

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Answerable needs Python 3.12 or newer; set PYTHON=/path/to/python3.12")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

install: $(UV)
	$(UV) sync --frozen --quiet

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# The demo always runs on the embedded defaults, whatever the shell has set.
demo: export DATABASE_URL :=
demo: export REDIS_URL :=
demo: export DEBUG := 1
demo: seed
	$(PY) manage.py runserver 127.0.0.1:8000

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	DEBUG=0 SECRET_KEY=check-deploy-secret-key-that-is-long-enough-0123456789 \
	  ANONYMITY_KEY=check-deploy-anonymity-key-that-is-long-enough-012345 EMAIL_HOST=mail.internal \
	  $(PY) manage.py check --deploy --fail-level WARNING

test: lint check
	$(PY) -m pytest

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean:
	rm -rf .venv $(TOOLS) var staticfiles

# The short version of the five benchmarks (bench/README.md) on their own database,
# answerable_bench, and Redis db 11: a few minutes, then one table. Needs PostgreSQL
# and Redis on 127.0.0.1; the full versions are `.venv/bin/python bench/run_all.py`.
.PHONY: bench
bench: $(UV)
	$(UV) sync --frozen --all-groups --quiet
	$(PY) bench/run_all.py --short
