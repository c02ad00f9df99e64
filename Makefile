# The two set-up commands: `make repro` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed

.PHONY: install repro test lock clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install --python $(PY) -r requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

repro: install
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH dvc repro

test: install
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH pytest -q

# Re-resolve the pinned versions after editing pyproject.toml dependencies.
lock:
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 -o requirements.lock

clean-venv:
	rm -rf $(VENV)
