# sagepipe: `make demo` runs the pipeline offline, `make test` runs every check.
SHELL := /bin/bash
PYTHON312 := $(firstword $(wildcard /root/.pyenv/versions/3.12*/bin/python3) $(shell command -v python3.12) $(shell command -v python3))
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
NODE_BIN := node_modules/.bin
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test lint typecheck unit validate-template sam-build bench clean local-up

$(VENV)/.installed: requirements-lock.txt requirements-dev.txt pyproject.toml
	$(PYTHON312) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-lock.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

$(SAM_VENV)/.installed:
	$(PYTHON312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
	touch $@

$(NODE_BIN)/asl-validator: package.json
	npm install --no-audit --no-fund --silent
	touch $@

demo: venv
	$(VENV)/bin/sagepipe demo

local-up: venv
	$(VENV)/bin/sagepipe local up

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy layers/sagepipe/sagepipe layers/build_layer.py offline/sagepipe_local functions bench

validate-template: $(SAM_VENV)/.installed $(NODE_BIN)/asl-validator
	$(SAM) validate --lint --template template.yaml --region us-east-1
	$(NODE_BIN)/asl-validator --json-path statemachine/pipeline.asl.json

sam-build: $(SAM_VENV)/.installed
	PATH="$(dir $(PYTHON312)):$$PATH" $(SAM) build --template template.yaml --build-dir .aws-sam/build
	$(PY) -m sagepipe_local.package_sizes .aws-sam/build

test: venv lint typecheck validate-template sam-build
	$(VENV)/bin/pytest

unit: venv
	$(VENV)/bin/pytest tests/unit tests/handlers

bench: venv
	$(PY) -m bench

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .state
