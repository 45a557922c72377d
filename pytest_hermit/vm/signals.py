"""SIGTERM ends a run the way Ctrl-C does, so the domain in flight is destroyed.

A CI job that is cancelled, ``timeout``, or a user's ``kill`` sends SIGTERM,
whose default action ends the process at once: no ``finally`` runs, and the
QEMU of the boot in flight is left behind. Raised as KeyboardInterrupt, it
takes the clean-up paths every boot already has for Ctrl-C.
"""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def end_on_sigterm() -> bool:
    """Make SIGTERM raise KeyboardInterrupt, unless someone installed a handler already; True if installed."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _interrupt)
    return True
