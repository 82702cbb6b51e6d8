# visitrank Azure app: emulator, system and tool prerequisites and the Azure test suite.
# Included from the Makefile (`include azure.mk`); uses its VENV/BIN/STAMP variables.
# Standalone use also works: `make -f azure.mk azure-test`.
SHELL := /bin/bash
VENV ?= .venv
BIN ?= $(VENV)/bin
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
CHECKOV_VERSION := 3.3.30
NODE_STAMP := node_modules/.installed
SYSTEM_PACKAGES := unixodbc libsqliteodbc odbc-postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TOOLS_PYTHON ?= $(shell command -v python3.11 || command -v python3)

.PHONY: azure-deps system-deps tools checkov azure-test emulators-start emulators-stop

# npm packages of the emulators (Azurite, @vercel/cosmosdb-server), exactly as locked.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node_modules: $(NODE_STAMP)

# ODBC driver manager and the SQLite/PostgreSQL ODBC drivers, installed only when missing.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# checkov in its own venv: its pins must not fight the app's dependencies.
$(TOOLS_STAMP):
	test -x $(TOOLS_VENV)/bin/python || $(TOOLS_PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet "checkov==$(CHECKOV_VERSION)"
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

checkov: tools
	$(TOOLS_VENV)/bin/checkov --framework bicep --skip-download -d infra --compact

azure-deps: node_modules system-deps tools

# The Azure suite starts and stops its own emulators (127.0.0.1, free ports).
azure-test: azure-deps
	$(BIN)/pytest -q tests/azure

emulators-start: node_modules
	$(BIN)/python scripts/emulators.py start

emulators-stop:
	$(BIN)/python scripts/emulators.py stop
