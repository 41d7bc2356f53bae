# The two commands of the README: `make demo` runs TradeWatch, `make test` runs the tests.
# Both create .venv when it is missing and install the pinned dependencies.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install compile lock bench bench-smoke system-deps reliability

# Browser and load-generator for the dashboard and load tests (Debian packages; needs root or sudo).
SYSTEM_PACKAGES := chromium wrk
system-deps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null \
	  || { $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	fi

# uv (pinned) installs the locked wheels and compiles their bytecode in ~20 s where pip takes ~50 s. The
# bytecode is compiled at install because where PYTHONDONTWRITEBYTECODE is set (CI machines often do) no
# import ever writes it, and every process (the Dagster servers, each run) would compile its imports again.
UV_VERSION := 0.13.10
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/tradewatch demo

# The modules that hold @pytest.mark.timing tests (tests/test_make_test.py keeps this list whole): the
# serial pass collects only these instead of importing the whole suite again.
TIMING_TESTS := tests/test_rate_limiter_live.py tests/test_trade_sim.py tests/reliability/test_load.py \
	tests/reliability/test_overload.py tests/reliability/test_request_limits.py

# Our own modules' bytecode, compiled before the tests (only what changed since the last time): where
# PYTHONDONTWRITEBYTECODE is set no import writes it, and the tests start hundreds of Python processes
# (Dagster servers and runs, the simulator, the API, the CLI) that would each compile them again.
PACKAGES := tradewatch tradewatch_assets graphql_api trade_sim bench tests
compile: $(VENV)/.installed
	$(PY) -m compileall -q -j 0 $(PACKAGES) >/dev/null

# The overload test's abuse lasts 10 s here (30 s in `make reliability`, whose figures go into the docs).
test: $(VENV)/.installed system-deps compile
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadgroup -m "not timing and not long"
	TRADEWATCH_OVERLOAD_SECONDS=10 $(PY) -m pytest -p no:xdist -m "timing and not long" $(TIMING_TESTS)

bench: $(VENV)/.installed
	$(PY) bench/rate_limit.py

# Every benchmark under bench/ at its smallest size, each checked for the figures it prints (bench/smoke.py);
# `make test` runs the same runs as tests (tests/test_bench_smoke.py, beside the others on both cores),
# so a broken benchmark turns the test command red.
bench-smoke: $(VENV)/.installed system-deps
	$(PY) bench/smoke.py

# Re-run the reliability suite and regenerate docs/reliability.md from its figures.
reliability: $(VENV)/.installed system-deps
	rm -f build/reliability.json
	$(PY) -m pytest tests/reliability
	$(PY) bench/reliability_report.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v -e '^tradewatch' -e '^uv==' > requirements.lock
