# The two commands a reader needs:
#   make book   execute every notebook under the smoke profile, build _build/html
#   make test   run the test suite (notebooks, book build and a browser test included)
# Both create .venv on first use and install the pinned dependencies into it.
# And for readers who want more:
#   make lab        JupyterLab on notebooks/: the py:percent chapters open as notebooks, save back to .py
#   make notebooks  plain .ipynb copies in _build/ipynb for papermill (-p profile cpu works on its own)
#   make publish    the book under the cpu profile from the committed run records, training nothing

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := .cache/npm/node_modules/mathjax/es5/tex-chtml.js
PROFILE ?= smoke

.PHONY: book test venv browser mathjax clean lab notebooks publish

book: $(STAMP) $(MATHJAX)
	$(BIN)/defian book --profile $(PROFILE)

test: $(STAMP) $(MATHJAX) browser
	$(BIN)/python -m pytest

venv: $(STAMP)

# JupyterLab on notebooks/ through jupytext: a double click opens a chapter (.py) as a notebook,
# saving writes the .py back (jupytext.toml). The default-viewer setting, workspaces and user
# settings stay in .cache/jupyterlab, not in ~/.jupyter. LAB_ARGS passes more options,
# e.g. LAB_ARGS="--no-browser --port 8899".
LAB_CACHE := .cache/jupyterlab
lab: $(STAMP)
	$(BIN)/jupytext-config --settings-file $(LAB_CACHE)/config/labconfig/default_setting_overrides.json \
	  set-default-viewer python
	JUPYTER_CONFIG_PATH=$(LAB_CACHE)/config JUPYTERLAB_SETTINGS_DIR=$(LAB_CACHE)/user-settings \
	  JUPYTERLAB_WORKSPACES_DIR=$(LAB_CACHE)/workspaces \
	  $(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Executable .ipynb copies of the chapters, e.g.
#   papermill _build/ipynb/02_hessian_verification.ipynb out.ipynb -p profile cpu
notebooks: $(STAMP)
	$(BIN)/defian book --ipynb-only --profile $(PROFILE)

# The published book (.github/workflows/book.yml): the cpu profile, every training switch off, so
# the pages read the committed run records in results/runs and train nothing. It needs the benchmark
# sets the records were scored on: DEFIAN_DATA=/data/sr make publish (benchmark/<Set>/HR).
publish: $(STAMP) $(MATHJAX)
	$(BIN)/defian book --profile cpu --records-only

# Re-install whenever the pins change. torch==2.13.0 is pinned in pyproject.toml:
# on a CPU-only machine pip takes the CPU wheel from its find-links, never a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	touch $@

# MathJax 3 from the npm registry, served from the built site (no CDN at read time).
mathjax: $(MATHJAX)
$(MATHJAX):
	npm install --silent --no-audit --no-fund --prefix .cache/npm mathjax@3.2.2

# The browser test drives Debian's Chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

clean:
	rm -rf _build
