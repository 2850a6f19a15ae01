# hybridgate — the commands the README promises.
#   make run    create .venv, install, serve the embedded default on 127.0.0.1:8080
#   make test   install the dev dependencies, make sure PostgreSQL and Redis answer, run the suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
# torch first, from the CPU wheel on disk: anything depending on torch must not pull a CUDA build
TORCH  ?= torch==2.13.0

.PHONY: run test install install-dev services tools bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[models]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[models,dev]'
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/hybridgate serve --host $(HOST) --port $(PORT)

services:
	scripts/ensure-services.sh

tools:
	scripts/ensure-tools.sh

test: install-dev services tools
	HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True $(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-dev
	$(BIN)/python bench/gateway_overhead.py

clean:
	rm -rf $(VENV) .hybridgate .pytest_cache
