"""``pytest-hermit branches``: two refs built in worktrees, judged A/B (real VMs)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from pytest_hermit.cli import main
from pytest_hermit.exitcodes import EXIT_INTERRUPTED, EXIT_REFUSED
from tests.conftest import STATE_DIR, cli_process, hermit_cli, hermit_qemu_processes, wait_for_child_qemu

#: Boots real VMs: `pytest -m 'not vm'` leaves this file out.
pytestmark = pytest.mark.vm


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, reference_guest: Path) -> Path:
    """A project whose 'build' copies the reference guest; main and a branch with one more commit."""
    repo = tmp_path / "port"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.invalid")
    git(repo, "config", "user.name", "dev")
    (repo / "build.sh").write_text(f"#!/bin/sh\ncp {reference_guest} kernel.elf\n")
    (repo / "test_port.py").write_text('def test_basic(hermit_run):\n    hermit_run("basic")\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "NOTES").write_text("a change\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feature")
    return repo


def run_cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return hermit_cli(repo, "branches", *args)


def test_branches_builds_both_and_runs_ab(repo: Path) -> None:
    proc = run_cli(
        repo,
        "main",
        "feature",
        "--build",
        "sh build.sh",
        "--image",
        "kernel.elf",
        "--",
        "test_port.py",
        "-p",
        "no:cacheprovider",
        "--hermit-env=qemu",
        "--hermit-boots=2",
        "--hermit-reps=2",
        f"--hermit-state-dir={STATE_DIR}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "A = main" in proc.stdout and "B = feature" in proc.stdout
    assert "hermit: A/B run" in proc.stdout
    assert "change against baseline 'A (kernel.elf, interleaved)'" in proc.stdout
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True, check=True)
    assert len(listed.stdout.strip().splitlines()) == 1, "temporary worktrees are removed"


def test_unknown_ref_and_failed_build_are_named(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_cli(repo, "main", "nosuchref", "--build", "true", "--image", "kernel.elf")
    assert proc.returncode == EXIT_REFUSED
    assert "nosuchref" in proc.stderr
    proc = run_cli(repo, "main", "feature", "--build", "exit 7", "--image", "kernel.elf")
    assert proc.returncode == EXIT_REFUSED
    assert "the build of A (main) failed with status 7" in proc.stderr
    proc = run_cli(repo, "main", "feature", "--build", "true", "--image", "kernel.elf")
    assert "made no image at kernel.elf" in proc.stderr
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True, check=True)
    assert len(listed.stdout.strip().splitlines()) == 1, f"a failed build left a worktree:\n{listed.stdout}"
    assert main(["branches", "main"]) == EXIT_REFUSED


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_an_interrupt_while_the_child_boots_stops_it_and_exits_2_leaving_nothing(
    repo: Path, sig: signal.Signals
) -> None:
    # The guest never finishes: the VM is certainly running when the signal comes.
    (repo / "test_hang.py").write_text('def test_hang(hermit_run):\n    hermit_run("hang", boots=1, reps=1)\n')
    args = ["branches", "main", "feature", "--build", "sh build.sh", "--image", "kernel.elf", "--"]
    args += ["test_hang.py", "-p", "no:cacheprovider", "--hermit-env=qemu", "--hermit-timeout=300"]
    args += [f"--hermit-state-dir={STATE_DIR}"]
    with cli_process(repo, *args) as proc:
        child, marker = wait_for_child_qemu(proc, "qemu")
        proc.send_signal(sig)  # to the command alone, as a CI runner's cancel or `kill` does
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, out + err
    assert "Traceback" not in err, err
    assert "pytest-hermit branches: interrupted; the running build or pytest was stopped, worktrees removed" in err
    assert not Path(f"/proc/{child}").exists(), "the child pytest was stopped and reaped"
    assert not hermit_qemu_processes(marker), "the VM of the child pytest is destroyed"
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True, check=True)
    assert len(listed.stdout.strip().splitlines()) == 1, f"an interrupt left a worktree:\n{listed.stdout}"
