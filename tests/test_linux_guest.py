"""A guest we did not build: a Linux kernel whose initramfs prints HermitCore's formats and powers off.

The kernel is Debian's: $HERMIT_LINUX_KERNEL, the cloud kernel the setup
installs (/boot/vmlinuz-*-cloud-amd64), or the Xen lab's cache (``make
xen-test`` downloads it); without one the test is skipped. The
initramfs is written here: a static init (fixtures/linux/init.c) and
/dev/console, packed as a newc cpio archive by this file, so neither root nor
the cpio tool is needed.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, STATE_DIR, run_pytest

#: Boots real VMs: `pytest -m 'not vm'` leaves this file out.
pytestmark = pytest.mark.vm

LAB_KERNEL = STATE_DIR / "xenlab" / "vmlinuz"


def linux_kernel() -> Path | None:
    """$HERMIT_LINUX_KERNEL, else Debian's cloud kernel (the setup installs it), else the Xen lab's."""
    given = os.environ.get("HERMIT_LINUX_KERNEL")
    cloud = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
    for candidate in (Path(given) if given else None, *cloud[-1:], LAB_KERNEL):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def newc_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0), ino: int = 1) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)


def write_initramfs(init: Path, target: Path) -> None:
    entries = [
        newc_entry("dev", stat.S_IFDIR | 0o755, ino=1),
        newc_entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1), ino=2),
        newc_entry("init", stat.S_IFREG | 0o755, init.read_bytes(), ino=3),
        newc_entry("TRAILER!!!", 0, ino=0),
    ]
    target.write_bytes(gzip.compress(b"".join(entries)))


def build_init(source: Path, out: Path) -> Path:
    """A static init linked from ``source``; a skip naming what is missing when it cannot be."""
    init = out / "init"
    built = subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(init), str(source)], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        pytest.skip(f"cannot link a static init (libc6-dev): {built.stderr.strip()[-200:]}")
    return init


@pytest.fixture(scope="module")
def measuring_linux(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The Debian kernel with an init that really measures (fixtures/linux/measure.c)."""
    kernel = linux_kernel()
    if kernel is None:
        pytest.skip("no Linux kernel: set HERMIT_LINUX_KERNEL or install linux-image-cloud-amd64")
    out = tmp_path_factory.mktemp("linux-measure")
    write_initramfs(build_init(REPO / "fixtures" / "linux" / "measure.c", out), out / "initrd.gz")
    return kernel, out / "initrd.gz"


@pytest.fixture(scope="module")
def linux_guest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    kernel = linux_kernel()
    if kernel is None:
        pytest.skip(f"no Linux kernel: set HERMIT_LINUX_KERNEL or run 'make xen-test' once (caches {LAB_KERNEL})")
    out = tmp_path_factory.mktemp("linux")
    init = build_init(REPO / "fixtures" / "linux" / "init.c", out)
    write_initramfs(init, out / "initrd.gz")
    return kernel, out / "initrd.gz"


def test_linux_kernel_with_initramfs_gives_basic_and_stream(
    pytester: pytest.Pytester, linux_guest: tuple[Path, Path]
) -> None:
    kernel, initrd = linux_guest
    pytester.makepyfile(
        """
        def test_basic(hermit_run):
            m = hermit_run("basic", boots=1)
            assert m["getpid"].values == [120.0] and m["first_page_access"].median == 40000.0

        def test_stream(hermit_run):
            m = hermit_run("stream", boots=1, reps=1)
            assert m["stream_triad"].values == [897.4] and m["stream_copy"].unit == "MB/s"
        """
    )
    result = run_pytest(
        pytester,
        "--hermit-env=qemu",
        f"--hermit-kernel={kernel}",
        f"--hermit-initrd={initrd}",
        "--hermit-cmdline=console=ttyS0",
        "--hermit-timeout=120",
    )
    result.assert_outcomes(passed=2)


def test_linux_under_icount_compares_unchanged_and_never_calls_a_varying_metric_exact(
    pytester: pytest.Pytester, measuring_linux: tuple[Path, Path]
) -> None:
    """Its getpid and malloc vary a little between repetitions even under icount: with icount's
    two default boots the gate sees that and judges them by the statistics; before, one boot of
    one repetition made every metric "exact" and a wobble of 0.2% a coin toss at 0.5%."""
    kernel, initrd = measuring_linux
    pytester.makepyfile("def test_basic(hermit_run):\n    hermit_run('basic', reps=3)\n")
    common = (
        "--hermit-env=icount",
        f"--hermit-kernel={kernel}",
        f"--hermit-initrd={initrd}",
        "--hermit-cmdline=console=ttyS0",
        "--hermit-timeout=300",
        f"--hermit-baseline-dir={pytester.path / 'baselines'}",
    )
    saved = run_pytest(pytester, *common, "--hermit-save=main")
    saved.assert_outcomes(passed=1)
    compared = run_pytest(pytester, *common, "--hermit-compare=main", "--hermit-json=out.json")
    compared.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "out.json").read_text())
    methods = {name: m["comparison"]["method"] for r in report["runs"] for name, m in r["metrics"].items()}
    assert set(methods) == {"getpid", "sched_yield", "malloc", "first_page_access"}
    assert methods["malloc"] != "exact", methods
    compared.stdout.fnmatch_lines(["*icount: * varied between boots or repetitions*not exactly*"])
