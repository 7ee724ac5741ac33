# Set-up and the two everyday jobs.  `make train` and `make test` each do all the set-up they need
# on a fresh machine: a virtualenv in .venv (torch's CPU wheel first), the package in editable mode,
# and for tests the system packages they drive (Chromium for the UI checks, PostgreSQL for the
# tracking-server checks).
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install train test system-deps bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: 2.13.0 is the CPU wheel; letting pip pick torch itself pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# pyproject.toml declares ranges; constraints.txt holds the exact versions CI installs.
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

train: $(VENV)/.installed
	$(PY) -m stancebench train $(ARGS)

system-deps:
	bash .ci/system-deps

# pytest runs beside a throw-away PostgreSQL cluster and MLflow tracking server (127.0.0.1, free
# ports, stopped and deleted afterwards): see .ci/with-tracking-server.
test: $(VENV)/.installed system-deps
	PYTHON=$(PY) bash .ci/with-tracking-server $(PY) -m pytest $(ARGS)

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_tfidf.py

clean:
	rm -rf outputs multirun mlruns mlflow.db .pytest_cache
