"""Child processes of the commands (builds, pytest runs) that stop cleanly when the command is interrupted.

Each child runs in a process group of its own, so Ctrl-C in a terminal
reaches this process only; this process then asks the child to stop exactly
once (SIGINT to its group), waits while it cleans up, and escalates to
SIGTERM and SIGKILL only when it does not end. Why not let the terminal's
SIGINT reach the child directly: ``subprocess.run`` kills a child 0.25 s
after a KeyboardInterrupt, long before a pytest run has destroyed its VMs;
a SIGINT sent to this process alone (``kill -INT``, a CI runner) would never
reach the child at all; and a second SIGINT in the middle of the child's
clean-up could cut it short.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_hermit.exitcodes import EXIT_INTERRUPTED
from pytest_hermit.vm import signals

#: Seconds a child gets after each signal before the next, stronger one. A
#: pytest run of the plugin needs up to 30 s to destroy a stuck VM.
GRACE = 60.0


def run(cmd: str | Sequence[str], *, cwd: Path | None = None, log: Path | None = None, grace: float = GRACE) -> int:
    """Run ``cmd`` (a string goes to the shell) and return its exit status.

    Its output goes to ``log`` (appended) when given, else to this process's
    own stdout and stderr. Interrupted (KeyboardInterrupt, also from SIGTERM
    under :func:`interruptible`), the child is stopped and waited for,
    then the interrupt goes on.
    """
    out = log.open("ab") if log is not None else None
    try:
        proc = subprocess.Popen(
            cmd,
            shell=isinstance(cmd, str),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            process_group=0,
        )
        try:
            return proc.wait()
        except BaseException:
            stop(proc, cmd if isinstance(cmd, str) else shlex.join(cmd), grace)
            raise
    finally:
        if out is not None:
            out.close()


def stop(proc: subprocess.Popen[bytes], name: str, grace: float = GRACE) -> None:
    """End ``proc`` and its process group: SIGINT, SIGTERM, then SIGKILL, each ``grace`` s after the last.

    Another Ctrl-C while waiting moves on to the next signal at once (the
    user is in a hurry), but this never returns before the child is reaped.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        if sig is signal.SIGKILL:
            print(
                f"pytest-hermit: {name} (pid {proc.pid}) did not stop: killing it; "
                "VMs it left are ended by the next run on the same state dir",
                file=sys.stderr,
                flush=True,
            )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=None if sig is signal.SIGKILL else grace)
            return
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            continue


def interruptible(command: str, body: Callable[[], int], before: Callable[[], None] = lambda: None) -> int:
    """``body()``'s status; Ctrl-C or SIGTERM ends it with :data:`EXIT_INTERRUPTED` and one line, no traceback.

    For ``branches`` and ``bisect``: their children are stopped and their
    worktrees removed on the way out (:func:`run`, ``worktrees.worktree``)
    before the interrupt reaches this point. ``before`` runs first (to flush
    what the command printed so far).
    """
    with signals.sigterm_as_interrupt():
        try:
            return body()
        except KeyboardInterrupt:
            before()
            said = f"{command}: interrupted; the running build or pytest was stopped, worktrees removed"
            print(said, file=sys.stderr)
            return EXIT_INTERRUPTED


def tail(log: Path, lines: int = 10) -> list[str]:
    """The last ``lines`` lines of a child's log (what to show when it failed)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:]
