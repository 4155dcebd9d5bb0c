# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test test-postgres lint translations clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Crisisline needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

## Start the demo on the embedded default (SQLite, no servers) at http://127.0.0.1:5000
demo: install
	$(BIN)/crisisline demo

## Debian's chromium and CJK fonts for the browser tests (Playwright never downloads a browser)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "the browser tests need Debian's chromium: apt-get install chromium fonts-noto-cjk" >&2; exit 0; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium fonts-noto-cjk; }

## Run the test suite (SQLite; PostgreSQL/Redis when CRISISLINE_TEST_* are set)
test: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

## The same suite on the local PostgreSQL and Redis
test-postgres: install browser
	CRISISLINE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
	CRISISLINE_TEST_REDIS_URL=redis://127.0.0.1:6379/0 $(BIN)/pytest $(PYTEST_ARGS)

## Static checks (pyflakes and pycodestyle rules through ruff)
lint: install
	$(BIN)/ruff check .

## Re-extract UI messages, merge them into the Chinese catalog, and compile it
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o /tmp/crisisline.pot --no-location crisisline hotline casework schoolnet state_machines
	$(BIN)/pybabel update -i /tmp/crisisline.pot -d crisisline/translations -l zh_Hans_CN --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -d crisisline/translations -l zh_Hans_CN

clean:
	rm -rf $(VENV) instance .pytest_cache
