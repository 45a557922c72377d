# The README's two commands: `make demo` and `make test`. Each installs what
# it needs (system packages, .venv, the reference guest) and does nothing
# more when that is already done.

PYTHON ?= $(shell command -v /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make
PYTEST_ARGS ?=

.PHONY: demo test deps venv guest guests debian-guest profiler lint clean xen-test wheel

# The reference study, then each guest nobody here wrote, in its own project folder
# (its profile is in that folder's pyproject.toml).
demo: deps venv guests
	$(BIN)/pytest examples -p no:cacheprovider --hermit-env=icount,qemu,kvm -rs $(PYTEST_ARGS)
	$(BIN)/pytest examples/memtest86 -p no:cacheprovider --hermit-env=icount,qemu,kvm -rs $(PYTEST_ARGS)
	$(BIN)/pytest examples/debian-kernel -p no:cacheprovider --hermit-env=icount,qemu,kvm -rs $(PYTEST_ARGS)

test: deps venv guests profiler lint
	$(BIN)/pytest tests -p no:cacheprovider -rs $(PYTEST_ARGS)
ifneq ($(HERMIT_SKIP_XEN),1)
	$(MAKE) xen-test
endif

# The plugin's hvm/pvh tests inside a Xen 4.17 host booted under QEMU TCG
# (xenlab/README.md): builds the lab once (about 2.5 minutes, cached), then
# about 2-3 minutes a run. `make test HERMIT_SKIP_XEN=1` leaves it out.
XEN_TESTS ?= tests/test_xen.py
XEN_TIMEOUT ?= 900
xen-test: guest
	xenlab/run --timeout $(XEN_TIMEOUT) --out .hermit/xenlab -- \
	  python3 -m pytest -v -p pytest_hermit.plugin -p no:cacheprovider -rs \
	  --hermit-env=hvm,pvh --hermit-require-env --hermit-timeout=240 \
	  --hermit-artifacts=/hermit-out/artifacts --junitxml=/hermit-out/junit.xml \
	  $(XEN_TESTS)

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

# Every guest the examples and tests boot: the reference guest, and those nobody
# here wrote (memtest86+ comes as it is from its package).
guests: guest debian-guest

# Debian's cloud kernel with an initramfs of Debian packages (busybox, the
# kernel's own speed-test modules); about a second, and a no-op when current.
DEBIAN_GUEST := .hermit/debian-guest
debian-guest: deps
	$(PYTHON) scripts/build-debian-guest $(DEBIAN_GUEST)
# The TCG plugin of --hermit-profile, against the installed QEMU's own plugin
# header (scripts/build-profiler); when it cannot be built, profiling is
# unavailable with the reason in profiler/build/UNAVAILABLE, nothing else.
profiler: deps
	scripts/build-profiler

lint: venv
	$(BIN)/ruff check pytest_hermit tests benchmarks examples conftest.py setup.py scripts/build-debian-guest
	$(BIN)/mypy

# The wheel (reference guest inside) and the sdist for `pip install` elsewhere (README, "In your own repository").
wheel: deps venv
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(STAMPS) $(VENV) guest/build profiler/build .hermit build dist
