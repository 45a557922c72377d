"""Child processes of the commands: their output, and how they are stopped (real processes, no VM)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_hermit.cli import children


def test_run_returns_the_status_and_appends_the_output_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    assert children.run("echo one; echo two >&2; exit 3", cwd=tmp_path, log=log) == 3
    assert children.run(["sh", "-c", "echo three"], log=log) == 0
    assert children.tail(log, 2) == ["two", "three"]
    assert children.tail(tmp_path / "missing.log") == []


#: ``sh -c SCRIPT`` with SIGINT at its default action. A suite started in the
#: background of a non-interactive shell has SIGINT ignored, its children
#: inherit that across exec, and sh can neither trap nor reset a signal that
#: was ignored when it started: Ctrl-C would then end nothing.
_SH_WITH_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp('sh', ['sh', '-c', sys.argv[1]])"
)


def _started(script: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", _SH_WITH_SIGINT, script]
    proc = subprocess.Popen(cmd, process_group=0, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # its traps are set
    return proc


@pytest.mark.parametrize(
    ("traps", "ended_by"),
    [
        ("", signal.SIGINT),
        ("trap '' INT; ", signal.SIGTERM),  # a child that ignores Ctrl-C gets SIGTERM after the grace time
        ("trap '' INT TERM; ", signal.SIGKILL),
    ],
)
def test_stop_asks_once_then_insists_and_always_reaps(
    traps: str, ended_by: signal.Signals, capsys: pytest.CaptureFixture[str]
) -> None:
    # short sleeps: the whole group gets each signal, and the ignored ones stay ignored in sleep too
    proc = _started(f"{traps}echo ready; while :; do sleep 0.05; done")
    try:
        children.stop(proc, "the build", grace=0.5)
    finally:
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -ended_by
    assert ("the build (pid" in capsys.readouterr().err) == (ended_by is signal.SIGKILL)
