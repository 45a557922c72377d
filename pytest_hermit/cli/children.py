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
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

#: Seconds a child gets after each signal before the next, stronger one. A
#: pytest run of the plugin needs up to 30 s to destroy a stuck VM.
GRACE = 60.0


def run(cmd: str | Sequence[str], *, cwd: Path | None = None, log: Path | None = None, grace: float = GRACE) -> int:
    """Run ``cmd`` (a string goes to the shell) and return its exit status.

    Its output goes to ``log`` (appended) when given, else to this process's
    own stdout and stderr. Interrupted (KeyboardInterrupt, also from SIGTERM
    under :func:`sigterm_as_interrupt`), the child is stopped and waited for,
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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt (a cancelled CI job cleans up as Ctrl-C does).

    Only when SIGTERM is at its default action and this is the main thread;
    otherwise left as it is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM are ignored: for clean-up that takes a second and must not be cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            # None: a handler installed from C, which Python cannot put back; the default is the safe guess.
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def tail(log: Path, lines: int = 10) -> list[str]:
    """The last ``lines`` lines of a child's log (what to show when it failed)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:]
