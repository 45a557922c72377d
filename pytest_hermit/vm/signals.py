"""SIGTERM ends a run the way Ctrl-C does; clean-up that must not be cut short ignores both.

A CI job that is cancelled, ``timeout``, or a user's ``kill`` sends SIGTERM,
whose default action ends the process at once: no ``finally`` runs, and the
QEMU of the boot in flight (or the child pytest of ``pytest-hermit
branches``/``bisect``, and their worktrees) is left behind. Raised as
KeyboardInterrupt, it takes the clean-up paths every boot and every command
already has for Ctrl-C. The one place the package handles signals: the
plugin (for the whole run) and the commands (while they work) both use it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _may_install() -> bool:
    """Only the main thread may set handlers, and a handler someone else installed is theirs."""
    return threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def end_on_sigterm() -> bool:
    """From now on SIGTERM raises KeyboardInterrupt, unless a handler is installed already; True if installed."""
    if not _may_install():
        return False
    signal.signal(signal.SIGTERM, _interrupt)
    return True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt (as :func:`end_on_sigterm`, then put back)."""
    if not end_on_sigterm():
        yield
        return
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
