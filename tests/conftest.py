"""Shared helpers for the plugin's tests: guest images and leak checks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
#: The basic workload's loops at a tenth of their default: the same code paths and per-call
#: costs, a quarter of a TCG boot's time. VM tests that need many boots use it.
SMALL_LOOPS = "iters=100000 mallocs=16"


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


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``pytest-hermit`` run that imports this checkout's code (and of the pytest it starts).

    The console script imports the package the venv was installed from,
    which in a second git worktree is another checkout's.
    """
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def hermit_cli(cwd: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """``pytest-hermit ARGS`` in ``cwd``, from this checkout's code (``env``: more environment variables)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_hermit.cli", *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def reference_guest() -> Path:
    """The reference guest, built if missing or stale (make knows)."""
    subprocess.run(["make", "-s", "-C", str(REPO / "guest")], check=True)
    return REPO / "guest" / "build" / "refguest.elf"


def build_multiboot(elf: Path, *sources: Path, flags: tuple[str, ...] = ()) -> Path:
    """A freestanding 32-bit multiboot kernel linked at 1 MiB from ``sources`` (the test guests nobody here ships)."""
    common = ["gcc", "-m32", "-static", "-no-pie", "-nostdlib", "-ffreestanding", *flags]
    link = ["-Wl,-Ttext=0x100000", "-Wl,--build-id=none", "-o", str(elf), *map(str, sources)]
    subprocess.run([*common, *link], check=True)
    return elf


@pytest.fixture(scope="session")
def foreign_loader(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Loader kernels that print their initrd like a HermitCore image: one halts, one resets."""
    out = tmp_path_factory.mktemp("foreign")
    kernels = {}
    for end in ("HALT", "RESET"):
        elf = build_multiboot(out / f"loader-{end.lower()}.elf", FOREIGN / "loader.S", flags=(f"-DEND_{end}",))
        kernels[end.lower()] = elf
    return kernels


def assert_getpid_regressed(result: pytest.RunResult) -> None:
    """A getpid slowdown under timed TCG failed its test with a statistical verdict.

    What it does not assert: that no other metric moved. Timed numbers drift
    between two runs with the host's state (CI once read malloc +30% in a run
    that only slowed getpid; interleaved boots on a quiet host agree within
    1%), so "nothing else changed" is a rate, measured in
    benchmarks/injection_isolation.py, and asserted exactly where numbers are
    exact (tests/test_icount_vm.py).
    """
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*getpid regressed on qemu: * -> * cycles (+*%*CI*p=*tolerance 5%*"])


def hermit_qemu_processes(marker: str = "guest=hermit-") -> list[str]:
    """QEMU processes of domains the plugin named (hermit-ENV-PID-N-XXXX)."""
    proc = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in proc.stdout.splitlines() if "qemu-system" in line and "pgrep" not in line]


#: Runs pytest with SIGINT at its default action: a suite started in the
#: background of a non-interactive shell inherits SIGINT ignored, and Python
#: then installs no KeyboardInterrupt handler, so a Ctrl-C test would hang.
_PYTEST_WITH_SIGINT = (
    "import signal, sys, pytest; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


#: ``pytest-hermit`` itself with SIGINT at its default action, for the same reason.
_CLI_WITH_SIGINT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from pytest_hermit.cli import main; sys.exit(main(sys.argv[1:]))"
)


@contextlib.contextmanager
def _ended_process(cmd: list[str], cwd: Path, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``cmd`` with its output piped, for a test to interrupt; always killed if still running, and waited for."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None and not proc.stdout.closed:
            proc.communicate()
        proc.wait()


def cli_process(cwd: Path, *args: str, **env: str) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """``pytest-hermit ARGS`` in a process of its own, for a test to interrupt; always ended and waited for."""
    cmd = [sys.executable, "-c", _CLI_WITH_SIGINT, *args]
    return _ended_process(cmd, cwd, env=cli_env(**env), stderr=subprocess.PIPE)


def inner_pytest(
    folder: Path, *args: str, state_dir: Path = STATE_DIR
) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """A pytest of the plugin in its own process (Ctrl-C and kill -9 need one), always ended and waited for."""
    cmd = [
        sys.executable,
        "-c",
        _PYTEST_WITH_SIGINT,
        "-p",
        "no:cacheprovider",
        f"--hermit-state-dir={state_dir}",
        *args,
    ]
    return _ended_process(cmd, folder, stderr=subprocess.STDOUT)


def wait_for_qemu(proc: subprocess.Popen[str], marker: str, within: float = 120) -> None:
    """Until a QEMU whose command line holds ``marker`` runs; fails with the child's output otherwise."""
    deadline = time.monotonic() + within
    while not hermit_qemu_processes(marker):
        if proc.poll() is not None:
            pytest.fail(f"the inner pytest ended before its VM started:\n{proc.communicate()[0]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no VM started within {within:g} s:\n{proc.communicate()[0]}")
        time.sleep(0.1)


def wait_for_child_qemu(proc: subprocess.Popen[str], env: str, within: float = 120) -> tuple[str, str]:
    """Until a child of ``proc`` (the pytest a command started) runs a QEMU in ``env``: (child PID, marker)."""
    deadline = time.monotonic() + within
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        pids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False)
        for pid in pids.stdout.split():
            marker = f"guest=hermit-{env}-{pid}-"
            if hermit_qemu_processes(marker):
                return pid, marker
        time.sleep(0.1)


@pytest.fixture(scope="session")
def help_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``pytest --help`` of the installed plugin, for tests that check the options docs and examples use."""
    # outside the repository, so only the installed plugin speaks, not this checkout's ini
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path_factory.mktemp("help"),
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="session")
def loopback_libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qemu+tcp://127.0.0.1:PORT/system`` of a libvirtd of our own (``tests/libvirtd_host.py``).

    Tests that use it are skipped with the daemon's own words when it cannot start.
    """
    from tests import libvirtd_host

    with libvirtd_host.running(tmp_path_factory.mktemp("libvirtd")) as daemon:
        yield daemon.uri
