# Two commands do all set-up on a fresh Debian machine with Python 3.11:
#   make demo   - install what is missing, start the servers, run the system on the sample district
#   make test   - install what is missing, run ruff, mypy and pytest against real servers
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the web console's npm packages, installed again whenever its lock file changes
CONSOLE_STAMP := console/node_modules/.installed

.PHONY: install lint format test demo schemas sample bench clean

install: $(STAMP) $(CONSOLE_STAMP)
	@$(BIN)/streetlight services install >/dev/null

$(CONSOLE_STAMP): console/package-lock.json $(STAMP)
	@# the Debian packages the servers, the tests and the console need (npm among them)
	@$(BIN)/streetlight services install >/dev/null
	cd console && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# grafana-client's niquests brings urllib3-future, whose wheel overwrites urllib3 at every
	# start (and breaks requests); built from source without that, both live side by side
	URLLIB3_NO_OVERRIDE=1 $(BIN)/pip install --quiet --disable-pip-version-check \
		--no-binary urllib3-future -c constraints.txt -e '.[dev]'
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/streetlight demo

schemas: install
	$(BIN)/streetlight contract schemas --write docs/schemas

sample: install
	$(BIN)/python examples/xunyang/generate.py

bench: install
	$(BIN)/python bench/influx_write.py

clean:
	rm -rf $(VENV) console/node_modules var .mypy_cache .ruff_cache .pytest_cache .hypothesis
