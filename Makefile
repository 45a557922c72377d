# The README's two commands: `make demo` and `make test`. Each installs what
# it needs (system packages, .venv, the reference guest) and does nothing
# more when that is already done.

PYTHON ?= $(shell command -v /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
PYTEST_ARGS ?=

.PHONY: demo test deps venv guest lint unit clean

demo: deps venv guest
	$(BIN)/pytest examples -p no:cacheprovider --hermit-env=kvm,qemu -rs $(PYTEST_ARGS)

test: deps venv guest lint
	$(BIN)/pytest tests -p no:cacheprovider -rs $(PYTEST_ARGS)

deps: $(STAMPS)/system-packages

$(STAMPS)/system-packages: scripts/install-system-packages
	scripts/install-system-packages
	@mkdir -p $(STAMPS) && touch $@

venv: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml | $(STAMPS)/system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,plots]'
	@mkdir -p $(STAMPS) && touch $@

guest: deps
	$(MAKE) -s -C guest

lint: venv
	$(BIN)/ruff check pytest_hermit tests benchmarks examples conftest.py
	$(BIN)/mypy

clean:
	rm -rf $(STAMPS) $(VENV) guest/build .hermit
