"""The wheel works outside this repository: built from the sdist, installed in a fresh venv, used in an empty folder.

What a port's developers do after ``pip install pytest-hermit``: ``pytest-hermit
doctor``, a three-line test of ``hermit_run("basic")`` on the bundled reference
guest, and ``pytest-hermit init`` followed by ``pytest``. The sdist is built
first and the wheel from it (``python -m build``), so the guest in the wheel
is compiled from the sdist's own sources.

Cost: the venv does not install the dependencies again (libvirt-python would
be compiled, numpy and scipy downloaded): a ``.pth`` file puts this
interpreter's site-packages behind the venv's own, so only pytest-hermit
itself comes from the wheel, which the test checks. Measured on two busy
cores: 13 s to build the sdist and the wheel (the guest compiled in it) and
install it, then two icount boots and one qemu boot of a small basic workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO, STATE_DIR

pytest.importorskip("build", reason="building the wheel needs the 'build' package (the dev extras)")

pytestmark = pytest.mark.vm

#: A small basic workload: the default one takes seconds per boot under load, and this test is about the wheel.
SMALL = ["--hermit-boots=1", "--hermit-reps=1", "--hermit-cmdline=iters=1000 mallocs=4"]
THREE_LINES = 'def test_basic(hermit_run):\n    m = hermit_run("basic")\n    assert m["getpid"].median > 0\n'


def run(cmd: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``cmd`` with no trace of this checkout on the path (PYTHONPATH would import its code, not the wheel's)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from the sdist (its dependencies: this interpreter's)."""
    out = tmp_path_factory.mktemp("dist")
    built = run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    warned = [line for line in (built.stdout + built.stderr).splitlines() if "deprecated" in line.lower()]
    assert warned == [], "the build warns (e.g. the license as a TOML table)"
    (wheel,) = out.glob("pytest_hermit-*.whl")
    venv = tmp_path_factory.mktemp("venv")
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=out)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], out).stdout.strip())
    installed = run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel], cwd=out)
    assert installed.returncode == 0, installed.stderr
    # Only now: pip would take this interpreter's pytest-hermit (often an editable install) for the wheel's.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "hermit_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    where = run([python, "-c", "import pytest_hermit; print(pytest_hermit.__file__)"], cwd=out)
    assert where.stdout.strip().startswith(str(site)), f"pytest_hermit comes from {where.stdout} {where.stderr}"
    return venv


def test_doctor_in_an_empty_folder_lists_icount_and_qemu_and_the_bundled_guest(venv: Path, tmp_path: Path) -> None:
    doctor = run([venv / "bin" / "pytest-hermit", "doctor", f"--state-dir={STATE_DIR}"], cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    for name in ("icount", "qemu"):
        assert any(line.startswith(f"{name} ") and " available" in line for line in lines), doctor.stdout
    bundled = "/pytest_hermit/shipped/refguest.elf: the reference guest, from the installed package"
    assert any(line.startswith(f"guest: {venv}") and bundled in line for line in lines), doctor.stdout


def test_three_lines_of_hermit_run_pass_on_the_bundled_guest_in_icount_and_qemu(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_three.py").write_text(THREE_LINES)
    result = run(
        [venv / "bin" / "python", "-m", "pytest", "-p", "no:cacheprovider", "-rs", "--hermit-env=icount,qemu",
         f"--hermit-state-dir={STATE_DIR}", *SMALL, "--hermit-json=run.json"],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
    kernel = json.loads((tmp_path / "run.json").read_text())["context"]["guest"]["kernel"]
    assert kernel.startswith(str(venv)) and kernel.endswith("/pytest_hermit/shipped/refguest.elf"), kernel


def test_init_in_a_new_git_repository_passes_under_icount_and_a_second_init_changes_nothing(
    venv: Path, tmp_path: Path
) -> None:
    assert run(["git", "init", "-q"], cwd=tmp_path).returncode == 0
    first = run([venv / "bin" / "pytest-hermit", "init"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    result = run(
        [venv / "bin" / "python", "-m", "pytest", "tests/perf", "-p", "no:cacheprovider", "-rs",
         "--hermit-env=icount", f"--hermit-state-dir={STATE_DIR}", *SMALL],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts}
    second = run([venv / "bin" / "pytest-hermit", "init"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
    assert second.stdout.count("left alone") == 3, second.stdout
