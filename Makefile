# The two commands a reader needs:
#   make book   execute every notebook under the smoke profile, build _build/html
#   make test   run the test suite (notebooks, book build and a browser test included)
# Both create .venv on first use and install the pinned dependencies into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MATHJAX := .cache/npm/node_modules/mathjax/es5/tex-chtml.js
PROFILE ?= smoke

.PHONY: book test venv browser mathjax clean

book: $(STAMP) $(MATHJAX)
	$(BIN)/defian book --profile $(PROFILE)

test: $(STAMP) $(MATHJAX) browser
	$(BIN)/python -m pytest

venv: $(STAMP)

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
