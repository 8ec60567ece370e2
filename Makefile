# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch==2.13.0 is pinned in pyproject; a CPU build of it is on this machine's disk.
PIP    := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: demo test install install-dev bench clean

# The demo curates (curate), then post-trains with TRL (posttrain).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[curate,posttrain]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/curricle demo

# One pytest-xdist worker a core (at most 4), each on one torch thread (tests/conftest.py):
# 7.5 minutes on 2 cores where one process took 13-15.
test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n auto --maxprocesses 4

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/sampler_throughput.py --quick
	$(PY) benchmarks/train_overhead.py --quick
	$(PY) benchmarks/train_overhead.py --quick --loss-chunk-tokens none
	$(PY) benchmarks/train_memory.py --quick
	$(PY) benchmarks/prepare_throughput.py --quick
	$(PY) benchmarks/mixing.py --quick
	$(PY) benchmarks/curation.py --quick
	$(PY) benchmarks/probe_speed.py --quick
	$(PY) benchmarks/finetune_curriculum.py --quick
	$(PY) benchmarks/rl_curriculum.py --quick
	$(PY) benchmarks/render_tables.py

clean:
	rm -rf $(VENV) runs .pytest_cache
