# Entry points: `make demo` (train on built-in data), `make test` (the whole suite), `make lint` (ruff, mypy).
# Both create .venv on first use and install pairless into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint install browser clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) -m pairless demo

test: $(VENV)/.installed
	$(PY) -m pytest

# ruff and mypy as configured in pyproject.toml.
lint: $(VENV)/.installed
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy

# Debian's chromium, which the web app's browser test drives (tests/serve/test_browser.py); a no-op once installed.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) runs/demo .pytest_cache
