"""``pytest-hermit bisect`` where nothing boots: refusals, failed builds, pytest runs that judge nothing, Ctrl-C.

Every one of them must leave no worktree and no temporary directory behind.
The bisections that boot the reference guest are in test_bisect_vm.py.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_INTERRUPTED, EXIT_REFUSED
from tests.conftest import cli_process, hermit_cli
from tests.gitrepo import Repo, assert_no_worktree_left

#: A build that makes a "kernel" (never booted here) unless the checkout holds a file named BROKEN.
BUILD_SH = """#!/bin/sh
echo building
test -e BROKEN && { echo 'BROKEN: does not compile' >&2; exit 3; }
echo k > kernel.elf
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: base, two harmless commits; a side branch merged in; BAD does not build."""
    r = Repo(tmp_path / "port")
    r.commit("base", {"build.sh": BUILD_SH, "test_plain.py": "def test_plain():\n    pass\n", "test_none.py": ""})
    r.commit("notes", {"NOTES": "one\n"})
    r.git("checkout", "-q", "-b", "side")
    r.commit("side work", {"SIDE": "x\n"})
    r.git("checkout", "-q", "main")
    r.commit("more notes", {"NOTES": "two\n"})
    r.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    r.commit("break the build", {"BROKEN": "\n"})
    return r


def bisect(repo: Repo, tmp: Path, *args: str, build: str = "sh build.sh") -> subprocess.CompletedProcess[str]:
    tmp.mkdir(exist_ok=True)
    return hermit_cli(repo.path, "bisect", "--build", build, "--image", "kernel.elf", *args, TMPDIR=str(tmp))


@pytest.mark.parametrize(
    ("good", "bad", "words"),
    [
        ("main~4", "nosuchref", "'nosuchref' is not a commit, branch or tag"),
        ("main", "main~4", "is not an ancestor of BAD main~4"),
        ("main", "main", "GOOD and BAD are the same commit"),
        ("side", "main", "not on its first-parent line (it came in through a merge)"),
    ],
)
def test_refs_that_cannot_be_bisected_are_refused(repo: Repo, tmp_path: Path, good: str, bad: str, words: str) -> None:
    proc = bisect(repo, tmp_path / "tmp", good, bad)
    assert proc.returncode == EXIT_REFUSED, proc.stdout + proc.stderr
    assert words in proc.stderr
    assert_no_worktree_left(repo, tmp_path / "tmp")


def test_pytest_arguments_that_set_the_images_are_refused(repo: Repo, tmp_path: Path) -> None:
    proc = bisect(repo, tmp_path / "tmp", "main~4", "main", "--", "--hermit-kernel=k.elf", "--hermit-json", "x.json")
    assert proc.returncode == EXIT_REFUSED
    assert "--hermit-kernel=k.elf --hermit-json: bisect sets the images and the JSON report" in proc.stderr


def test_a_build_that_always_fails_is_a_broken_run_with_its_output(repo: Repo, tmp_path: Path) -> None:
    proc = bisect(repo, tmp_path / "tmp", "main~4", "main", build="echo compiling; echo 'cc: error: no' >&2; exit 3")
    assert proc.returncode == EXIT_BROKEN, proc.stdout + proc.stderr
    good = repo.git("rev-parse", "--short=12", "main~4")
    assert f"the build of GOOD {good} failed with status 3: echo compiling" in proc.stderr
    assert "    cc: error: no" in proc.stderr  # the end of the build's own output
    assert_no_worktree_left(repo, tmp_path / "tmp")


def test_bad_that_does_not_build_cannot_be_judged(repo: Repo, tmp_path: Path) -> None:
    proc = bisect(repo, tmp_path / "tmp", "main~4", "main")
    assert proc.returncode == EXIT_BROKEN, proc.stdout + proc.stderr
    assert "step 1: " in proc.stdout and "'break the build': skip, the build failed with status 3" in proc.stdout
    assert "BAD" in proc.stderr and "could not be judged: the build failed with status 3" in proc.stderr
    assert_no_worktree_left(repo, tmp_path / "tmp")


def test_a_pytest_run_that_collects_nothing_is_a_broken_run(repo: Repo, tmp_path: Path) -> None:
    proc = bisect(repo, tmp_path / "tmp", "main~4", "main~1", "--", "test_none.py", "-p", "no:cacheprovider")
    assert proc.returncode == EXIT_BROKEN, proc.stdout + proc.stderr
    assert "failed: pytest ended with exit status 5 (no tests collected)" in proc.stderr
    assert_no_worktree_left(repo, tmp_path / "tmp")


def test_tests_that_compare_nothing_are_refused(repo: Repo, tmp_path: Path) -> None:
    proc = bisect(repo, tmp_path / "tmp", "main~4", "main~1", "--", "test_plain.py", "-p", "no:cacheprovider")
    assert proc.returncode == EXIT_REFUSED, proc.stdout + proc.stderr
    assert "compared no metric: do the tests call hermit_run?" in proc.stderr
    assert_no_worktree_left(repo, tmp_path / "tmp")


def test_ctrl_c_during_a_build_stops_it_and_removes_the_worktree(repo: Repo, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = tmp_path / "build.pid"
    build = f"echo $$ > {marker}.part && mv {marker}.part {marker} && exec sleep 120"
    args = ("bisect", "main~4", "main", "--build", build, "--image", "k.elf")
    with cli_process(repo.path, *args, TMPDIR=str(tmp)) as proc:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # to the command alone: it must pass it on to the build
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert "interrupted; the running build or pytest was stopped, worktrees removed" in err
    assert_no_worktree_left(repo, tmp)
    assert not Path(f"/proc/{marker.read_text().strip()}").exists(), "the build was stopped and reaped"


def test_metrics_may_be_repeated_or_comma_separated(repo: Repo) -> None:
    from pytest_hermit.cli import bisect as cli
    from pytest_hermit.cli.main import build_parser

    args = build_parser().parse_args(
        ["bisect", "a", "b", "--build", "make", "--image", "k", "--metric", "getpid,malloc"]
    )
    args.pytest_args = ["tests/"]
    assert cli.request(args).metrics == ("getpid", "malloc")
    assert cli.request(build_parser().parse_args(["bisect", "a", "b", "--build", "m", "--image", "k"])).metrics == ()
