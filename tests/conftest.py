"""Shared helpers for the plugin's tests: guest images and leak checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# pytester's in-process runs drop the modules they imported when they end.
# numpy's C extensions cannot be loaded twice in one process (the plugin
# imports scipy.stats on first use), and the plugin keeps embedded libvirt
# connections for the process: a re-imported libvirt module would raise its
# errors as a different class. Import both here, before any inner run.
try:
    import libvirt  # noqa: F401
    import scipy.stats  # noqa: F401
except ImportError:  # the guest's own tests run without the plugin's dependencies
    pass

REPO = Path(__file__).resolve().parent.parent
FOREIGN = REPO / "fixtures" / "foreign"
#: pytester moves HOME; the embedded libvirt driver's cache (QEMU capabilities,
#: seconds to probe) should stay the user's one across inner runs.
STATE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"


def run_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the plugin in-process with the shared state dir and quiet rewrite warnings."""
    return pytester.runpytest(
        f"--hermit-state-dir={STATE_DIR}",
        "-p",
        "no:cacheprovider",
        "-rs",  # skip reasons in the inner output: a VM test must never skip silently
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        *args,
    )


@pytest.fixture(scope="session")
def reference_guest() -> Path:
    """The reference guest, built if missing or stale (make knows)."""
    subprocess.run(["make", "-s", "-C", str(REPO / "guest")], check=True)
    return REPO / "guest" / "build" / "refguest.elf"


@pytest.fixture(scope="session")
def foreign_loader(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Loader kernels that print their initrd like a HermitCore image: one halts, one resets."""
    out = tmp_path_factory.mktemp("foreign")
    kernels = {}
    for end in ("HALT", "RESET"):
        elf = out / f"loader-{end.lower()}.elf"
        subprocess.run(
            [
                "gcc",
                "-m32",
                "-static",
                "-no-pie",
                "-nostdlib",
                "-ffreestanding",
                f"-DEND_{end}",
                "-Wl,-Ttext=0x100000",
                "-Wl,--build-id=none",
                "-o",
                str(elf),
                str(FOREIGN / "loader.S"),
            ],
            check=True,
        )
        kernels[end.lower()] = elf
    return kernels


def assert_only_getpid_regressed(result: pytest.RunResult) -> None:
    """A getpid slowdown failed its test, and no other basic metric was called a regression."""
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*getpid regressed on qemu: * -> * cycles (+*%, *CI*Mann-Whitney p=*tolerance 5%*"])
    out = result.stdout.str()
    for other in ("sched_yield", "malloc", "first_page_access"):
        assert f"{other} regressed" not in out


def hermit_qemu_processes(marker: str = "guest=hermit-") -> list[str]:
    """QEMU processes of domains the plugin named (hermit-ENV-PID-N-XXXX)."""
    proc = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in proc.stdout.splitlines() if "qemu-system" in line and "pgrep" not in line]
