PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit test-shuffled lint browser-deps fire webhook openapi screenshots bench flood clean

# .venv is made by Python's venv; the pinned requirements are installed by uv (itself pinned, from
# PyPI through pip), which installs them in about 15 s where pip takes 70 s (docs/architecture.md, "Decisions").
UV_VERSION := 0.13.9

$(STAMP): requirements-dev.txt layers/shared/requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt -r layers/shared/requirements.txt
	@touch $(STAMP)

# make run keeps its data across restarts (.orderhub/data.json); make run ARGS=--fresh starts empty
run: $(STAMP)
	$(BIN)/python -m localcloud $(ARGS)

# Tests run in parallel, one worker per core plus one (make test WORKERS=1 for one process): the
# tests wait on HTTP, queues and the local cloud's pollers about a quarter of their time, which
# the extra worker fills (docs/architecture.md, "Tests"). The tests of a module stay on one
# worker, so its local cloud or moto is started once. Modules are handed out in collection
# order, the ones marked slowest first (tests/conftest.py).
WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)" 2>/dev/null || echo 2)
# Python's bytecode cache stays on for the tests and the local cloud, even where the environment
# turns it off (PYTHONDONTWRITEBYTECODE): each worker would otherwise compile every test and
# function module from source (collection 11 s instead of 4 s). The caches are in .gitignore.
unexport PYTHONDONTWRITEBYTECODE
XDIST = -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# The browser tests (tests/browser) drive Debian's Chromium, with Japanese fonts so the console's
# labels render (Playwright's own browser download is not used). Installed here when missing and
# this runs as root with apt-get; otherwise one line says what to install. ORDERHUB_CHROMIUM
# names another Chromium binary.
browser-deps:
	@if { [ -n "$$ORDERHUB_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; } \
	    && fc-list :lang=ja 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium and Japanese fonts for the browser tests (apt-get, about a minute)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null; }; \
	else \
	  echo "The browser tests need Chromium and Japanese fonts: sudo apt-get install chromium fonts-noto-cjk (or set ORDERHUB_CHROMIUM)"; \
	  exit 1; \
	fi

# Lint and every test
test: $(STAMP) lint browser-deps
	$(BIN)/python -m pytest -q $(XDIST)

# The pure rules only (tests/unit): a loop of seconds
unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# Every test, the modules in an order drawn from SEED (printed; make test-shuffled SEED=n repeats it):
# the suite must pass whichever order its modules run in
SEED ?= $(shell date +%s)
SEED := $(SEED)
test-shuffled: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) --shuffle-modules=$(SEED)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Fire a schedule now on a running local cloud: make fire SCHEDULE=HoldSweepFunction
fire: $(STAMP)
	$(BIN)/python -m localcloud fire $(SCHEDULE)

# Sign and post a sample webhook to a running local cloud: make webhook EVENT=events/shopify/orders_create.json
webhook: $(STAMP)
	$(BIN)/python scripts/send_webhook.py $(EVENT)

# Regenerate docs/openapi.json from the routes (a test fails when it is out of date)
openapi: $(STAMP)
	PYTHONPATH=layers/shared:. $(BIN)/python scripts/openapi.py

# Write the README's screenshots (docs/screenshots/) from the browser tests
screenshots: $(STAMP) browser-deps
	ORDERHUB_SCREENSHOTS=docs $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# Run the benchmarks and write bench/results.md (make bench ARGS=--quick for smaller sizes)
bench: $(STAMP)
	PYTHONPATH=$(CURDIR)/layers/shared:$(CURDIR) $(BIN)/python -m bench $(ARGS)

# The full webhook flood of the reliability suite (2,000 deliveries, 300 orders, 16 senders); prints its figures
flood: $(STAMP)
	ORDERHUB_FLOOD=full $(BIN)/python -m pytest -q -p no:cacheprovider tests/reliability/test_flood.py -k final_state

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .orderhub
