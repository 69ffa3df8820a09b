# Two entry points for a fresh machine (see README):
#   make demo   install everything, then run the demo (the main job)
#   make test   install everything, then run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU-capable build this project is tested with; installing
# it first keeps pip from resolving an unpinned torch to a multi-GB download.
install: $(BIN)/python
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[all,test]'

# Debian packages used only by tests/benchmarks: chromium (browser test),
# ffmpeg (the recipe-comparison benchmark, reference checks, AugLy's video edits),
# libmagic1 (python-magic, which AugLy imports).
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null || ! ldconfig -p | grep -q libmagic.so.1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg libmagic1 >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg libmagic1 >/dev/null; fi; \
	fi

demo: install
	$(BIN)/reelmatch demo

test: install system-deps
	$(BIN)/python -m pytest -q
