# Everything goes through the project's own virtual environment.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m rnnkit demo

test: $(STAMP)
	$(PY) -m pytest -q

# Every benchmark script rewrites its own section of BENCHMARKS.md (see benchmarks/report.py).
BENCH_SCRIPTS := $(filter-out benchmarks/report.py,$(sort $(wildcard benchmarks/*.py)))

bench: $(STAMP)
	set -e; for script in $(BENCH_SCRIPTS); do $(PY) $$script; done

bench-quick: $(STAMP)
	set -e; for script in $(BENCH_SCRIPTS); do $(PY) $$script --quick; done

clean:
	rm -rf $(VENV) build *.egg-info
