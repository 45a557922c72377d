"""The copy of the project that the Xen lab (xenlab/run) puts into dom0: no VM boots here.

The plugin inside the lab decides from that copy whether it runs from a source
checkout (booting guest/build) or from an installed wheel (booting the guest
shipped in its package). A copy without guest/Makefile read as a wheel with
no guest, and every Xen test was refused before it booted.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def _xenlab_run() -> ModuleType:
    """xenlab/run as a module (a script without a .py suffix; its main() runs only as __main__)."""
    loader = importlib.machinery.SourceFileLoader("xenlab_run", str(REPO / "xenlab" / "run"))
    spec = importlib.util.spec_from_loader("xenlab_run", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_labs_copy_of_the_project_boots_the_checkouts_own_reference_guest(
    tmp_path: Path, reference_guest: Path
) -> None:
    _xenlab_run().stage_overlay(tmp_path, ["true"], {})
    tree = tmp_path / "hermit"
    code = "from pytest_hermit._shipped import shipped; s = shipped('refguest.elf'); print(s.origin); print(s.path)"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True)
    origin, path = done.stdout.splitlines()
    assert origin == "source checkout", done.stdout
    assert Path(path) == tree / "guest" / "build" / "refguest.elf"
    assert Path(path).read_bytes() == reference_guest.read_bytes()
