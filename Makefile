# Two commands do everything (README): `make grade` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: setup grade test browser bench clean

## setup: a virtual environment with the grader, torch (CPU build) and the test tools
setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check 'torch==2.13.0'
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## grade: set up, then grade the sample class in submissions/ into out/
grade: setup
	$(BIN)/grader run submissions --out out
	@echo "open out/index.html"

## browser: headless Chromium for the report tests (Debian's package)
browser:
	@scripts/install-chromium

## test: set up, then type-check and run the whole test suite
test: setup browser
	$(BIN)/mypy
	$(BIN)/pytest

## bench: the throughput benchmark (not part of CI); see bench/README.md
bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) out .pytest_cache
