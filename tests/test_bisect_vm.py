"""``pytest-hermit bisect`` on a repository holding the reference guest: real builds, real icount boots.

The repository's history (GOOD = base, BAD = the last commit)::

    base -> notes -> getpid takes a detour (slower: +1 instruction of 15)
         -> half a refactoring (does not build) -> the other half -> more notes -> changelog

After BAD, the search meets the commit that does not build at its first
middle and skips it for its older neighbour, the slower commit; that one is
confirmed against its parent and named. In icount one boot per side decides,
exactly.

The branch ``gradual`` (from base) slows getpid in two steps of one
instruction, each +6.7% or less, within the tolerance of 10% that
``gradual/pyproject.toml`` sets; together +13.3%, above it. The second step
is the first commit slower than GOOD, but not slower than its parent: it
must not be named.

The branch ``noboot`` (from base) slows getpid, then panics early in boot
(it builds, its guest does not boot), then boots again, then adds notes: the
search meets the panicking commit in the middle and skips it, as a commit
that does not build, for the slower commit before it.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pytest_hermit.cli.bisect import EXIT_NOT_SLOWER
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_INTERRUPTED, EXIT_OK
from tests.conftest import (
    REPO,
    SMALL_LOOPS,
    STATE_DIR,
    cli_process,
    hermit_cli,
    hermit_qemu_processes,
    wait_for_child_qemu,
)
from tests.gitrepo import Repo, assert_no_worktree_left

#: Boots real VMs: `pytest -m 'not vm'` leaves this file out.
pytestmark = pytest.mark.vm

BUILD = "make -C guest"
IMAGE = "guest/build/refguest.elf"
TEST = f'def test_basic(hermit_run):\n    hermit_run("basic", cmdline="{SMALL_LOOPS}")\n'
#: A second test folder whose own pyproject.toml (the rootdir of a pytest started in it) allows getpid 10%.
GRADUAL = {
    "gradual/pyproject.toml": "[tool.pytest.ini_options]\n\n[tool.hermit.tolerance.icount]\ngetpid = 10\n",
    "gradual/test_port.py": TEST,
}
PANIC = ("    paging_init();\n", '    paging_init();\n    panic("boot: the new allocator is not ready");\n')
GETPID = ("    inject_point(M_GETPID);\n", '    inject_point(M_GETPID);\n    __asm__ volatile("nop");\n')


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory, reference_guest: Path) -> Repo:
    """A port's repository: the reference guest's sources, a test, seven commits (see the module docstring)."""
    r = Repo(tmp_path_factory.mktemp("bisect") / "port")
    shutil.copytree(REPO / "guest", r.path / "guest", ignore=shutil.ignore_patterns("build"))
    r.commit("base", {"test_port.py": TEST, ".gitignore": "build/\n.hermit/\n", **GRADUAL})
    r.commit("notes", {"NOTES": "the port builds with make -C guest\n"})
    r.commit("sched: getpid takes a detour", edit={"guest/common/sched.c": GETPID})
    r.commit("lib: half a refactoring", {"guest/common/broken.c": "int half_done(void) { return 1 }\n"})
    r.commit(
        "lib: the other half", {"guest/common/broken.c": "int half_done(void);\nint half_done(void) { return 1; }\n"}
    )
    r.commit("more notes", {"NOTES": "the port builds with make -C guest; see README\n"})
    r.commit("changelog", {"CHANGES": "getpid is slower now, but nobody knows yet\n"})
    r.git("checkout", "-q", "-b", "gradual", "main~6")
    r.commit("getpid: one detour", edit={"guest/common/sched.c": GETPID})
    r.commit("getpid: another detour", edit={"guest/common/sched.c": GETPID})
    r.git("checkout", "-q", "-b", "noboot", "main~6")
    r.commit("getpid: a detour", edit={"guest/common/sched.c": GETPID})
    r.commit("boot: a new allocator", edit={"guest/common/setup.c": PANIC})
    r.commit("boot: the allocator is ready", edit={"guest/common/setup.c": PANIC[::-1]})
    r.commit("notes", {"NOTES": "the allocator is ready\n"})
    r.git("checkout", "-q", "main")
    return r


def bisect(port: Repo, tmp: Path, good: str, bad: str, folder: str = "") -> subprocess.CompletedProcess[str]:
    """Bisect with the test of the repository's top folder (or of ``folder``), started there."""
    tmp.mkdir(exist_ok=True)
    return hermit_cli(
        port.path / folder,
        "bisect",
        good,
        bad,
        "--build",
        BUILD,
        "--image",
        IMAGE,
        "--",
        "--hermit-env=icount",
        "test_port.py",
        "-p",
        "no:cacheprovider",
        f"--hermit-state-dir={STATE_DIR}",
        TMPDIR=str(tmp),
    )


def test_bisect_names_the_slower_commit_and_skips_the_one_that_does_not_build(port: Repo, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = bisect(port, tmp_path / "tmp", "main~6", "main")
    seconds = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == EXIT_OK, out + proc.stderr
    culprit = port.git("rev-parse", "main~4")
    broken = port.git("rev-parse", "--short=12", "main~3")
    assert f"{broken} 'lib: half a refactoring': skip, the build failed with status 2: {BUILD}" in out
    assert out.rstrip().splitlines()[-2:] == [
        f"first bad commit: {culprit} sched: getpid takes a detour",
        "  getpid: 15.000 -> 16.000 cycles (+6.7%, exact)",
    ]
    steps = re.findall(r"^bisect: step \d+: (\w+) ", out, re.MULTILINE)
    # BAD, the broken middle, its older neighbour (the culprit), the one before: 1 + log2(6) + 1 skip
    assert len(steps) == 4, out
    assert f"bisect: confirm {culprit[:12]} 'sched: getpid takes a detour' against " in out
    assert_no_worktree_left(port, tmp_path / "tmp")
    print(f"bisected 6 commits in {seconds:.1f} s: {len(steps)} steps and a confirmation")


def test_a_commit_that_builds_but_does_not_boot_is_skipped(port: Repo, tmp_path: Path) -> None:
    started = time.monotonic()
    proc = bisect(port, tmp_path / "tmp", "main~6", "noboot")
    out = proc.stdout
    assert proc.returncode == EXIT_OK, out + proc.stderr
    panics = port.git("rev-parse", "--short=12", "noboot~2")
    assert f"{panics} 'boot: a new allocator': skip, the A/B run of {panics} against GOOD " in out, out
    assert "a run broke (pytest exit status 6" in out
    culprit = port.git("rev-parse", "noboot~3")
    assert out.rstrip().splitlines()[-2] == f"first bad commit: {culprit} getpid: a detour"
    assert_no_worktree_left(port, tmp_path / "tmp")
    print(f"bisected 4 commits, one not booting, in {time.monotonic() - started:.1f} s")


def test_bad_not_slower_than_good_ends_at_once(port: Repo, tmp_path: Path) -> None:
    proc = bisect(port, tmp_path / "tmp", "main~6", "main~5")
    assert proc.returncode == EXIT_NOT_SLOWER, proc.stdout + proc.stderr
    assert "step 1: " in proc.stdout and "'notes': good, " in proc.stdout
    assert "bisect: BAD is not slower than GOOD" in proc.stdout
    assert "first bad commit" not in proc.stdout
    assert_no_worktree_left(port, tmp_path / "tmp")


def test_a_slowdown_in_steps_within_the_tolerance_is_not_named(port: Repo, tmp_path: Path) -> None:
    proc = bisect(port, tmp_path / "tmp", "main~6", "gradual", folder="gradual")
    out = proc.stdout
    assert proc.returncode == EXIT_BROKEN, out + proc.stderr
    second = port.git("rev-parse", "--short=12", "gradual")
    assert f"step 2: {port.git('rev-parse', '--short=12', 'gradual~1')} 'getpid: one detour': good" in out
    assert f"bisect: confirm {second} 'getpid: another detour' against " in out
    assert "getpid: 16.000 -> 17.000 cycles (+6.2%, exact)" in out
    assert "first bad commit" not in out
    assert f"{second} is slower than GOOD (getpid: 15.000 -> 17.000 cycles (+13.3%, exact)) but not" in proc.stderr
    assert "the numbers are exact, so the slowdown came in several steps, each within the tolerance" in proc.stderr
    assert_no_worktree_left(port, tmp_path / "tmp")


def test_ctrl_c_while_a_vm_runs_stops_pytest_destroys_the_vm_and_removes_the_worktrees(
    port: Repo, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    args = ["bisect", "main~6", "main", "--build", BUILD, "--image", IMAGE, "--", "--hermit-env=icount"]
    args += ["test_port.py", "-p", "no:cacheprovider", f"--hermit-state-dir={STATE_DIR}"]
    with cli_process(port.path, *args, TMPDIR=str(tmp)) as proc:
        _, marker = wait_for_child_qemu(proc, "icount")
        proc.send_signal(signal.SIGINT)  # to the command alone: it passes it on to its pytest
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert "interrupted" in err
    assert not hermit_qemu_processes(marker), "the VM of the interrupted pytest is destroyed"
    assert_no_worktree_left(port, tmp)
