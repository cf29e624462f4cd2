# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-all lint audit lock clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# CPU torch first: any other torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/citebot index
	$(BIN)/citebot chat

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# Known vulnerabilities in the locked dependencies (pip-audit, in its own venv; see .ci/audit).
# Accept a reviewed advisory by adding its ID to audit-ignore.txt.
audit:
	PYTHON=$(PYTHON) bash .ci/audit

# Re-pin requirements.lock after changing dependencies: a clean install in a scratch venv, frozen.
lock:
	rm -rf .lock && $(PYTHON) -m venv .lock
	.lock/bin/pip install --quiet torch==2.13.0
	.lock/bin/pip install --quiet '.[dev]'
	(echo '# Pinned versions from a clean install (pip freeze); `make lock` regenerates it.'; \
	 .lock/bin/pip freeze --exclude-editable | grep -v '^citebot') > requirements.lock
	rm -rf .lock

clean:
	rm -rf $(VENV) .audit .lock build *.egg-info
