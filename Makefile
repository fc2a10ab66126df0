# The two commands: `make lab` opens the suite, `make test` runs every test. Both set up .venv when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seglab-installed
HOST ?= 127.0.0.1
PORT ?= 8888
JOBS ?= 2
# PyTorch threads in each test process (pytest workers, notebook kernels, JupyterLab's kernels): JOBS workers already
# fill the cores, and more threads per worker oversubscribe them (pytest took 8 min 15 s with the default threads and
# 4 min 21 s with one, on the 2-core machine, 2026-11-29).
TEST_THREADS ?= 1
TEST_ENV := SEGLAB_QUICK=1 OMP_NUM_THREADS=$(TEST_THREADS)
SITE_NPM := build/site_npm
SITE_ASSETS := $(SITE_NPM)/.installed

.PHONY: lab test unit notebooks browser bench lint data clean help homework grade site site-assets gpu-pass

help:
	@echo "make lab    - open the suite in JupyterLab (installs into $(VENV) on first use)"
	@echo "make test   - run every test: unit tests, every notebook (nbval, quick mode), browser tests"
	@echo "make bench  - print the benchmark table (GPU rows when CUDA is present)"
	@echo "make gpu-pass OUT=DIR - gpu tests, CUDA benchmarks and every recipe on CUDA -> DIR/summary.md (QUICK=1: CPU)"
	@echo "make data   - regenerate data/scenes"
	@echo "make site   - run every chapter once (default mode; SITE_QUICK=1 for quick) -> build/site/ (students),"
	@echo "              build/site-instructor/ (with the lecturer's and the homework guide); offline; default mode"
	@echo "              also records every cell's run time and updates the guide's section times"
	@echo "make homework            - nbgrader student editions of notebooks/homework -> build/homework/chN.zip"
	@echo "make grade SUBMISSIONS=DIR - autograde DIR/STUDENT/chN/*.ipynb -> build/grades/ (grades.csv, feedback)"

$(STAMP): pyproject.toml Makefile jupyter/overrides.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps d2l==1.0.3
	$(PY) -m pip install --quiet --no-deps stardist==0.9.2
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (seglab)" >/dev/null
	mkdir -p $(VENV)/share/jupyter/lab/settings && cp jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/
	@touch $@

lab: $(STAMP)
	@token="$${JUPYTER_TOKEN:-$$($(PY) -c 'import secrets; print(secrets.token_hex(16))')}"; \
	echo ""; echo "  seglab is opening in JupyterLab: http://$(HOST):$(PORT)/lab?token=$$token"; echo ""; \
	echo "  Slideshow (lecture mode): open a chapter, Run All (hidden setup cells still run), then click the deck"; \
	echo "  button in the notebook toolbar, or run 'Start Deck' (command deck:start) from the command palette"; \
	echo "  (Ctrl+Shift+C). Space or Right: forward; Shift+Space or Left: back; Down/Up: sub-slides; Escape: stop."; \
	echo ""; \
	exec $(PY) -m jupyter lab --notebook-dir=notebooks --ip=$(HOST) --port=$(PORT) --ServerApp.port_retries=0 \
		--no-browser --ServerApp.token="$$token" --LabApp.news_url=None \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# What the executed site's pages load (MathJax, require.js, the widget manager), from the npm registry, pinned by
# jupyter/site/package-lock.json; seglab.site copies them into build/site/static/.
$(SITE_ASSETS): jupyter/site/package.json jupyter/site/package-lock.json
	mkdir -p $(SITE_NPM)
	cp jupyter/site/package.json jupyter/site/package-lock.json $(SITE_NPM)/
	cd $(SITE_NPM) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

site-assets: $(SITE_ASSETS)

# Default mode also records every code cell's run time (data/results/chapter_timings.json) and rewrites the lecturer's
# guide's computed section times from it (python -m seglab.guide); quick mode records nothing.
site: $(STAMP) $(SITE_ASSETS)
	$(PY) -m seglab.site $(if $(filter 1 yes true,$(SITE_QUICK)),--quick)
	$(if $(filter 1 yes true,$(SITE_QUICK)),,$(PY) -m seglab.guide)

test: $(STAMP) $(SITE_ASSETS)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax -p no:cacheprovider tests notebooks

unit: $(STAMP) $(SITE_ASSETS)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadfile -m "not slow" tests --ignore=tests/browser

notebooks: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax notebooks

browser: $(STAMP) $(SITE_ASSETS)
	SEGLAB_QUICK=1 $(PY) -m pytest tests/browser

bench: $(STAMP)
	$(PY) benchmarks/run.py

# One GPU pass (about 10 minutes on one H200): gpu tests, CUDA benchmarks, every recipe on CUDA with a time limit each
# -> OUT/summary.md, OUT/pass.json, OUT/logs/, OUT/recipes/. QUICK=1: the same on the CPU, tiny (the test suite's).
gpu-pass: $(STAMP)
	$(PY) benchmarks/gpu_pass.py --out "$(or $(OUT),build/gpu-pass)" $(if $(filter 1 yes true,$(QUICK)),--quick)

lint: $(STAMP)
	$(PY) -m ruff check seglab tests benchmarks

data: $(STAMP)
	$(PY) -m seglab.data.scenes data/scenes

homework: $(STAMP)
	$(PY) -m seglab.homework release

grade: $(STAMP)
	$(PY) -m seglab.homework grade $(if $(SUBMISSIONS),"$(SUBMISSIONS)") --timeout $(or $(TIMEOUT),30)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
