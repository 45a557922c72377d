"""Where the reference guest and the documented workflow are found: a source checkout's tree, else the package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pytest_hermit._shipped import shipped
from tests.conftest import REPO

#: Prints where an installed copy of the package finds the guest, and what resolve() says without one.
PROBE = """
from pytest_hermit._shipped import shipped
from pytest_hermit.errors import ConfigError
from pytest_hermit.vm.guest import resolve
found = shipped("refguest.elf")
print(found.origin, found.path, sep="|")
try:
    print("kernel|" + str(resolve(None, None, None, "").kernel))
except ConfigError as exc:
    print("error|" + str(exc))
"""


def installed_copy(site: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=site, env=env, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_a_source_checkout_boots_its_own_guest_build_and_reads_its_own_docs() -> None:
    assert shipped("refguest.elf").path == REPO / "guest" / "build" / "refguest.elf"
    assert shipped("refguest-pvh.elf").path == REPO / "guest" / "build" / "refguest-pvh.elf"
    assert shipped("github-actions.yml").path == REPO / "docs" / "github-actions.yml"
    assert shipped("refguest.elf").origin == "source checkout"


def test_an_installed_copy_boots_the_guest_shipped_in_its_package_data(tmp_path: Path) -> None:
    package = tmp_path / "pytest_hermit"
    shutil.copytree(REPO / "pytest_hermit", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "shipped").mkdir()
    (package / "shipped" / "refguest.elf").write_bytes(b"\x7fELF stand-in")
    origin, kernel = installed_copy(tmp_path)
    assert origin == f"installed package|{package / 'shipped' / 'refguest.elf'}"
    assert kernel == f"kernel|{package / 'shipped' / 'refguest.elf'}"


def test_an_installed_copy_without_the_guest_says_to_reinstall_from_a_wheel(tmp_path: Path) -> None:
    shutil.copytree(REPO / "pytest_hermit", tmp_path / "pytest_hermit", ignore=shutil.ignore_patterns("__pycache__"))
    _, error = installed_copy(tmp_path)
    assert error.startswith("error|the reference guest is missing from the installed package (")
    assert "reinstall pytest-hermit from a wheel built with 'pip wheel'" in error and "--hermit-kernel" in error
