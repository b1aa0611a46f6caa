# Everything goes through the project's own virtual environment, built by the first Python >= 3.11 found
# (or the one named by PYTHON=...), with the exact versions of constraints.txt.
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.13 python3 python,$(if $(shell command -v $(p) >/dev/null 2>&1 && $(p) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo ok),$(p))))
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint docs bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: no Python >= 3.11 found on PATH; run make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rnnkit demo

# The lint first (seconds), then the test suite.
test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# ruff lint (ruff.toml) on the package, tests and benchmarks; ruff format and pyright (basic mode,
# pyrightconfig.json) on the package.
lint: $(STAMP)
	$(VENV)/bin/ruff check rnnkit tests benchmarks && $(VENV)/bin/ruff format --check rnnkit && $(VENV)/bin/pyright rnnkit

# The documentation site, built offline into site/ (docs/ and mkdocs.yml; tests/test_docs.py runs its code).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# Every benchmark script rewrites its own section of BENCHMARKS.md (see benchmarks/report.py).
# The full run takes several hours on 2 cores (seq2seq ~25 min, classify ~20 min, speed ~10 min, ...);
# bench-quick about 15 minutes. headline.py, last, copies the headline numbers into README.md.
BENCH_SCRIPTS := $(filter-out benchmarks/report.py benchmarks/headline.py,$(sort $(wildcard benchmarks/*.py)))

bench: $(STAMP)
	set -e; for script in $(BENCH_SCRIPTS); do $(PY) $$script; done; $(PY) benchmarks/headline.py

bench-quick: $(STAMP)
	set -e; for script in $(BENCH_SCRIPTS); do $(PY) $$script --quick; done; $(PY) benchmarks/headline.py

clean:
	rm -rf $(VENV) build site *.egg-info
