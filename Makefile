# Two entry points for a fresh machine (see README):
#   make demo   install everything, then run the demo (the main job)
#   make test   install everything, then run the test suite
# and one for the inner loop:
#   make test-fast   the suite without the slow, Ray and browser tests (installs once)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast install system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is pinned to the CPU-capable build this project is tested with; installing
# it first keeps pip from resolving an unpinned torch to a multi-GB download.
# aisfx (the pretrained audio expert, weights in the wheel) pins numpy==1.23 and
# librosa==0.9.2 in its metadata but needs neither at run time here (its
# front-end is reelmatch's own): installed without its dependencies.
install: $(BIN)/python
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[all,test]'
	$(BIN)/pip install -q --no-deps aisfx==0.1.2

# Debian packages used only by tests/benchmarks: chromium (browser test),
# ffmpeg (the recipe-comparison benchmark, reference checks, AugLy's video edits),
# libmagic1 (python-magic, which AugLy imports), wrk and hey (HTTP load
# generators of benchmarks/serve.py), libchromaprint1 (Chromaprint, the audio
# fingerprint of dedupe), libgl1 and libglib2.0-0 (OpenCV, which PySceneDetect
# imports for the scenes stage).
SYSTEM_DEPS := chromium ffmpeg libmagic1 libchromaprint1 wrk hey libgl1 libglib2.0-0
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v ffmpeg >/dev/null || ! command -v wrk >/dev/null || ! command -v hey >/dev/null || ! ldconfig -p | grep -q libmagic.so.1 || ! ldconfig -p | grep -q libchromaprint.so.1 || ! ldconfig -p | grep -q libGL.so.1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_DEPS) >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_DEPS) >/dev/null; fi; \
	fi

demo: install
	$(BIN)/reelmatch demo

test: install system-deps
	$(BIN)/python -m pytest -q

# the inner loop: no reinstall unless pyproject.toml changed; CI runs `make test`
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(MAKE) install
	touch $@

test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow and not ray and not browser"
