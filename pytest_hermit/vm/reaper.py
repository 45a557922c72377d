"""Adopting and reaping the QEMU processes libvirt daemonizes, and nothing else.

libvirt starts QEMU through a double fork: the middle process calls setsid()
and exits, so QEMU is an orphan from its first instruction. libvirt's
destroy then waits until the process is gone, and a slow init reaps orphans
only after a second or two (1.6 s per destroy, measured here). As a child
subreaper (``PR_SET_CHILD_SUBREAPER``) this process inherits QEMU instead and
reaps it at once (a boot cycle 2.0 s -> 0.6 s).

A subreaper inherits *every* orphan below it, though: libvirt's capability
probes of another pytest started by this one (pytester, a CI step), daemons
of user code. Left unreaped they are zombies that their libvirt waits for
(40 s per probe, measured). So:

* the subreaper flag is on only while libvirt creates a domain of ours
  (:func:`adopting`), which is when its QEMU becomes an orphan;
* a thread reaps every zombie child that this process *adopted*, and never a
  child it forked itself. The test is the session: a child forked here starts
  in our session and can leave it only by setsid(), which makes it a session
  leader. A child in another session that leads no session was forked by
  someone else and inherited; its parent is dead, so no one else can ever
  wait for it, and reaping it steals no exit status from user code.

What the test cannot see: an orphan that leads a session of its own (QEMU's
``-daemonize``, which libvirt's capability probe uses) looks like a child of
user code that called setsid(). So the plugin has libvirt probe QEMU before
any window opens (``Connections.open``); only a probe that libvirt repeats
in mid-session (QEMU upgraded under it) could leave such a zombie, one per
probe, until the process ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36

#: How often the reaper looks while there is something to look for. libvirt
#: polls a dying QEMU every 200 ms; this keeps well inside one of its polls.
_POLL_S = 0.05


@dataclass(frozen=True)
class ChildState:
    """What /proc says of one child process."""

    pid: int
    state: str
    session: int


def parse_stat(text: str) -> tuple[str, int, int]:
    """(state, parent pid, session id) from the text of /proc/PID/stat.

    The command name is in parentheses and may itself hold spaces and ')'.
    """
    rest = text[text.rindex(")") + 2 :].split()
    return rest[0], int(rest[1]), int(rest[3])


def is_adopted(child: ChildState, own_session: int) -> bool:
    """True for a child this process inherited rather than forked (see the module docstring)."""
    return child.session != own_session and child.session != child.pid


def children(pid: int | None = None) -> list[ChildState]:
    """The direct children of this process (all its threads), from /proc."""
    me = pid or os.getpid()
    pids: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{me}/task")
    except OSError:
        return []
    for tid in tasks:
        try:
            pids.update(int(p) for p in Path(f"/proc/{me}/task/{tid}/children").read_text().split())
        except (OSError, ValueError):
            continue
    out = []
    for child in sorted(pids):
        try:
            state, ppid, session = parse_stat(Path(f"/proc/{child}/stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if ppid == me:
            out.append(ChildState(child, state, session))
    return out


def parent_of(pid: int) -> int | None:
    """The parent PID of ``pid``, or None when it is gone."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())[1]
    except (OSError, ValueError, IndexError):
        return None


def reap_if_adopted_zombie(pid: int) -> bool:
    """Reap ``pid`` now when it is an adopted child that has exited; True if it was.

    For a domain's QEMU that powered off by itself: libvirt's clean-up waits
    until the process is gone, so it is reaped here rather than at the
    reaper thread's next look. Only adopted children qualify (see
    :func:`is_adopted`), so no exit status of user code is taken.
    """
    try:
        state, parent, session = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return False
    if parent != os.getpid() or state not in ("Z", "X"):
        return False
    if not is_adopted(ChildState(pid, state, session), os.getsid(0)):
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


def _prctl_subreaper(on: bool) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class Reaper:
    """The process-wide subreaper window and the thread that reaps what it adopted."""

    _lock = threading.Lock()
    _wake = threading.Condition(_lock)
    _windows = 0
    _adopted: set[int] = set()  # noqa: RUF012 - class-level state shared by every session of the process
    _thread: threading.Thread | None = None
    #: False where prctl is refused (not Linux, seccomp): QEMU is then reaped by init.
    available = True

    @classmethod
    @contextlib.contextmanager
    def adopting(cls) -> Iterator[bool]:
        """While the body runs, orphans below this process become its children; yields whether that works."""
        with cls._lock:
            if cls._windows == 0 and cls.available:
                cls.available = _prctl_subreaper(True)
            cls._windows += 1
            active = cls.available
            cls._ensure_thread()
            cls._wake.notify_all()
        try:
            yield active
        finally:
            with cls._lock:
                cls._windows -= 1
                if cls._windows == 0 and cls.available:
                    _prctl_subreaper(False)
                cls._wake.notify_all()
            # What was adopted in the window and still runs is watched until it ends.
            cls.sweep()

    @classmethod
    def sweep(cls) -> list[int]:
        """Reap every adopted zombie now; remember adopted children that still run. The PIDs reaped."""
        own_session = os.getsid(0)
        reaped = []
        running = set()
        for child in children():
            if not is_adopted(child, own_session):
                continue
            if child.state in ("Z", "X"):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, os.WNOHANG)
                    reaped.append(child.pid)
            else:
                running.add(child.pid)
        # A thread that forked (libvirt's createXML runs in a worker thread)
        # hands its children to a sibling thread when it exits; a listing
        # taken meanwhile can miss one. Forgetting it would leave it a zombie
        # for good, and libvirt waits for that zombie (30 s, then a failed
        # destroy): keep watching every known PID until it is reaped.
        with cls._lock:
            missed = {pid for pid in cls._adopted - running if pid not in reaped and parent_of(pid) == os.getpid()}
        for pid in missed:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped.append(pid)
                    continue
            running.add(pid)
        with cls._lock:
            cls._adopted = running
            if running:
                cls._wake.notify_all()  # the thread may be asleep with nothing to watch
        return reaped

    @classmethod
    def _ensure_thread(cls) -> None:
        if cls._thread is None or not cls._thread.is_alive():
            cls._thread = threading.Thread(target=cls._run, name="hermit-reaper", daemon=True)
            cls._thread.start()

    @classmethod
    def _run(cls) -> None:
        while True:
            with cls._lock:
                while cls._windows == 0 and not cls._adopted:
                    cls._wake.wait()
            cls.sweep()
            with cls._lock:
                cls._wake.wait(timeout=_POLL_S)
