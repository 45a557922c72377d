"""One boot, start to end, modelled on xtf-runner.

Define a transient domain with a unique name, start it paused, attach the
console, resume, read until the results are complete or the guest ends, and
destroy it on every path: success, bad output, timeout, crash, Ctrl-C.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pytest_hermit.connections import Connections, reaping
from pytest_hermit.console import ConsoleTimeout, StreamPump, read_lines
from pytest_hermit.domxml import DomainSpec, render
from pytest_hermit.environments import Environment
from pytest_hermit.errors import BootTimeout, RunError
from pytest_hermit.parsers import BootResult, ConsoleParser

_counter = itertools.count(1)


def unique_name(env: Environment) -> str:
    """A domain name no other run on this host will pick."""
    return f"hermit-{env.name}-{os.getpid()}-{next(_counter)}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class BootRecord:
    """One boot's results with what the host observed."""

    result: BootResult
    transcript: Path
    first_line_ms: float | None
    wall_s: float
    ended: bool


class LiveDomains:
    """Domains this process may have started and not destroyed yet: the last line of defence.

    Registered by name and connection *before* they are created, so a Ctrl-C
    that lands between libvirt creating the domain and Python seeing the
    result still finds it.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _live: ClassVar[dict[str, Any]] = {}

    @classmethod
    def add(cls, name: str, conn: Any) -> None:
        with cls._lock:
            cls._live[name] = conn

    @classmethod
    def discard(cls, name: str) -> None:
        with cls._lock:
            cls._live.pop(name, None)

    @classmethod
    def destroy_all(cls) -> list[str]:
        with cls._lock:
            leftovers = list(cls._live.items())
            cls._live.clear()
        for name, conn in leftovers:
            try:
                conn.lookupByName(name).destroy()
            except Exception:  # noqa: BLE001 - best effort at exit; the domain may be gone already
                pass
        return [name for name, _ in leftovers]


def _is_qemu_of(pid: int, name: str) -> bool:
    """The process is still this domain's QEMU (not a recycled PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return f"guest={name}".encode() in cmdline


def _stop_qemu(conns: Connections, name: str) -> int | None:
    """Kill and reap our own QEMU before libvirt's destroy; its PID, or None.

    libvirt's destroy sends SIGTERM and looks again only after 200 ms, which
    is half of a whole boot here. When we are QEMU's subreaper it is our
    child: SIGKILL and reap it by PID (the VM's work is done, nothing to
    flush), and destroy then only tidies up.
    """
    pid = conns.qemu_pid(name)
    if pid is None or not conns.subreaper or not _is_qemu_of(pid, name):
        return pid
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        return pid  # not ours to reap after all: let destroy and the reaper handle it
    return None


def _destroy(conns: Connections, conn: Any, name: str) -> None:
    lv = conns.libvirt
    with reaping(_stop_qemu(conns, name)):
        try:
            conn.lookupByName(name).destroy()
        except lv.libvirtError as exc:
            # A guest that powered off is gone already (on_poweroff=destroy).
            if exc.get_error_code() not in (lv.VIR_ERR_NO_DOMAIN, lv.VIR_ERR_OPERATION_INVALID):
                raise RunError(f"libvirt could not destroy domain {name}: {exc}") from None
    LiveDomains.discard(name)


_STALE_LOCK = re.compile(r"locked by lock file '([^']+)' held by process (\d+)")


def _open_console(lv: Any, domain: Any, stream: Any) -> None:
    """Attach the console; clear a lock file left by a process that died holding it.

    libvirt locks a pty with /var/lock/LCK..pts_N while a console stream is
    open; a killed pytest leaves the file behind and every later VM that
    gets the same pty would fail. A lock whose owner is gone is stale.
    """
    try:
        domain.openConsole(None, stream, lv.VIR_DOMAIN_CONSOLE_FORCE)
        return
    except lv.libvirtError as exc:
        match = _STALE_LOCK.search(str(exc))
        if match is None or _alive(int(match.group(2))):
            raise
        Path(match.group(1)).unlink(missing_ok=True)
    domain.openConsole(None, stream, lv.VIR_DOMAIN_CONSOLE_FORCE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _attach(conns: Connections, env: Environment, domain: Any) -> StreamPump:
    """The guest console through a libvirt stream, local and remote alike.

    Reading the pty directly was tried: a guest that prints its last lines
    and powers off at once (the reference guest does) can take them along,
    because the pty's unread input is dropped when QEMU closes its end.
    """
    stream = conns.open(env).newStream(0)
    _open_console(conns.libvirt, domain, stream)
    return StreamPump(stream)


def boot(
    conns: Connections,
    env: Environment,
    spec: DomainSpec,
    parser: ConsoleParser,
    *,
    timeout: float,
    transcript: Path,
    on_line: Callable[[str], None] | None = None,
) -> BootRecord:
    """Boot ``spec`` in ``env`` once and parse its console; the domain never outlives this call."""
    conn = conns.open(env)
    lv = conns.libvirt
    xml = render(env, spec)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    started_wall = time.monotonic()
    LiveDomains.add(spec.name, conn)
    pump: StreamPump | None = None
    try:
        try:
            domain = conn.createXML(xml, lv.VIR_DOMAIN_START_PAUSED)
        except lv.libvirtError as exc:
            raise RunError(f"libvirt could not start the domain: {exc}", env=env.name) from None
        pump = _attach(conns, env, domain)
        domain.resume()
        started = time.monotonic()

        def feed(line: str) -> bool:
            parser.feed(line)
            if on_line is not None:
                on_line(line)
            return parser.complete

        try:
            outcome = read_lines(pump.read_fd, transcript, feed, timeout=timeout, started=started)
        except ConsoleTimeout:
            raise BootTimeout(
                f"timed out after {timeout:g} s (--hermit-timeout) waiting for the guest to finish; "
                f"it printed {parser.line_no} line(s)",
                env=env.name,
                transcript=transcript,
            ) from None
        result = parser.finish(ended=outcome.ended)
    except lv.libvirtError as exc:
        raise RunError(f"libvirt failed during the boot: {exc}", env=env.name, transcript=transcript) from None
    finally:
        try:
            _destroy(conns, conn, spec.name)
        finally:
            if pump is not None:
                pump.close()
    first_ms = outcome.first_line_s * 1000 if outcome.first_line_s is not None else None
    # The whole cycle, destroy included: what a boot costs the run.
    return BootRecord(result, transcript, first_ms, time.monotonic() - started_wall, outcome.ended)
