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
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pytest_hermit.errors import BootTimeout, RunError
from pytest_hermit.results.parsers import BootResult, ConsoleParser
from pytest_hermit.results.profile_parser import ProfileParser
from pytest_hermit.vm.connections import Connections, is_qemu_of
from pytest_hermit.vm.console import ConsoleTimeout, StreamPump, lost_tail, read_lines
from pytest_hermit.vm.domxml import DomainSpec, render
from pytest_hermit.vm.environments import EMBEDDED_QEMU, Environment
from pytest_hermit.vm.reaper import Reaper, parent_of, reap_if_adopted_zombie

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
    #: Under a profile (``DomainSpec.graceful_exit``): the guest powered off by itself after its results
    #: (else QEMU was stopped by a signal, wherever the guest was). None: not asked.
    powered_off: bool | None = None


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


#: Seconds libvirt may take to destroy a domain, even after the boot's own time ran out.
DESTROY_TIMEOUT = 30.0

T = TypeVar("T")


class LibvirtStuck(RunError):
    """A libvirt call did not return in time (the domain is destroyed all the same)."""


def bounded(what: str, seconds: float, call: Callable[[], T], finished: threading.Event | None = None) -> T:
    """``call()`` in a worker thread, given at most ``seconds``; :class:`LibvirtStuck` after that.

    libvirt's calls block in C, where neither a deadline nor Ctrl-C reaches
    them; waiting on an event does both. A call that overran is left to
    finish in its thread; ``finished`` is set when it has, so the caller's
    clean-up can wait for what it made before destroying it.
    """
    box: dict[str, Any] = {}
    done = threading.Event() if finished is None else finished
    done.clear()

    def work() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"hermit-{what.split()[0]}", daemon=True).start()
    if not done.wait(max(seconds, 0.0)):
        raise LibvirtStuck(f"libvirt did not {what} within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


#: Seconds a profiled guest gets to power off by itself after its last result, before SIGTERM.
GRACEFUL_EXIT_WAIT = 5.0


def _stop_qemu(conns: Connections, name: str, graceful: bool = False) -> None:
    """Kill and reap our own QEMU before libvirt's destroy.

    libvirt's destroy sends SIGTERM and looks again only after 200 ms, which
    is half of a whole boot here. QEMU adopted while its domain was created
    (see ``reaper``) is our child: SIGKILL and reap it by PID (the VM's work
    is done, nothing to flush), and destroy then only tidies up. ``graceful``
    (a TCG plugin must write its counts at exit): SIGTERM, which QEMU ends
    on normally, and SIGKILL only after DESTROY_TIMEOUT.
    """
    pid = conns.qemu_pid(name)
    if pid is None or reap_if_adopted_zombie(pid):
        return  # gone, or it powered off by itself and is reaped now
    if not is_qemu_of(pid, name) or parent_of(pid) != os.getpid():
        return
    try:
        if graceful:
            os.kill(pid, signal.SIGTERM)
            if _wait_gone(pid, name, DESTROY_TIMEOUT):
                return
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass  # the reaper thread was first


#: Seconds libvirt gets to finish stopping a domain whose QEMU exited by itself, before we destroy it.
EXIT_GRACE = 5.0


def _ended_by_itself(lv: Any, conn: Any, name: str, pid: int | None) -> bool:
    """Whether libvirt finished stopping a domain whose QEMU exited (poweroff, isa-debug-exit).

    libvirt stops such a domain on its own when it sees QEMU's monitor close,
    and waits for the process to be gone. The console can end while QEMU is
    still exiting, before it is a zombie that ``_stop_qemu`` would reap, and
    then nobody reaps it (seen: a destroy waiting 30 s, then failing): reap
    it here as soon as it is one.
    """
    deadline = time.monotonic() + EXIT_GRACE
    while time.monotonic() < deadline:
        if pid is not None:
            reap_if_adopted_zombie(pid)
        try:
            if not conn.lookupByName(name).isActive():
                return True
        except lv.libvirtError as exc:
            return bool(exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN)
        time.sleep(0.02)
    return False


def _wait_for_power_off(conns: Connections, name: str) -> bool:
    """Whether the guest ended its domain by itself within GRACEFUL_EXIT_WAIT (its QEMU then exited normally)."""
    pid = conns.qemu_pid(name)
    return pid is None or reap_if_adopted_zombie(pid) or _wait_gone(pid, name, GRACEFUL_EXIT_WAIT)


def _wait_gone(pid: int, name: str, seconds: float) -> bool:
    """Whether domain ``name``'s QEMU ``pid`` ended within ``seconds`` (reaped here when it is our child)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if parent_of(pid) == os.getpid():
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return True
            except ChildProcessError:
                return True  # the reaper thread reaped it
        elif not is_qemu_of(pid, name):
            return True  # gone (or a zombie of another parent: it has exited, its plugin has written)
        time.sleep(0.01)
    return False


def _destroy(conns: Connections, conn: Any, name: str, exited: bool = False, graceful: bool = False) -> None:
    """Destroy ``name`` within DESTROY_TIMEOUT; a domain that is gone already is fine.

    ``exited``: the console ended, so QEMU is likely gone by itself; libvirt gets
    EXIT_GRACE to notice before the destroy. ``graceful``: QEMU must end
    normally (a TCG plugin writes its counts at exit), see ``_stop_qemu``.
    """
    lv = conns.libvirt
    pid = conns.qemu_pid(name)
    _stop_qemu(conns, name, graceful)
    if exited:
        try:
            if bounded("stop the domain", EXIT_GRACE + 1, lambda: _ended_by_itself(lv, conn, name, pid)):
                LiveDomains.discard(name)
                return
        except LibvirtStuck:
            pass  # libvirt is busy with the domain: the destroy below waits its own time

    def destroy() -> None:
        try:
            conn.lookupByName(name).destroy()
        except lv.libvirtError as exc:
            # A guest that powered off is gone already (on_poweroff=destroy).
            if exc.get_error_code() not in (lv.VIR_ERR_NO_DOMAIN, lv.VIR_ERR_OPERATION_INVALID):
                raise RunError(f"libvirt could not destroy domain {name}: {exc}") from None

    try:
        bounded(f"destroy domain {name}", DESTROY_TIMEOUT, destroy)
    except LibvirtStuck:
        pid = conns.qemu_pid(name) or pid
        if pid is not None and is_qemu_of(pid, name):
            os.kill(pid, signal.SIGKILL)
            raise
        if pid is not None:
            reap_if_adopted_zombie(pid)
        if not exited or (pid is not None and _alive(pid) and is_qemu_of(pid, name)):
            raise
        # The guest ended by itself and its QEMU is gone: no VM runs, only libvirt's bookkeeping
        # lags (seen about one boot in thirty on a busy host). The boot's results are whole; the
        # stuck call finishes in its own thread. Failing the boot here would call a finished
        # measurement broken.
    LiveDomains.discard(name)


def _still_running(lv: Any, domain: Any) -> bool:
    try:
        return bool(domain.isActive())
    except lv.libvirtError:
        return False


def _keep_qemu_log(conns: Connections, name: str, transcript: Path | None) -> None:
    """QEMU's log beside the transcript of a failed boot; gone after a good one (one file per boot otherwise)."""
    log = conns.qemu_log(name)
    if log is None or not log.is_file():
        return
    try:
        if transcript is not None:
            shutil.move(log, transcript.with_name(transcript.stem + ".qemu.log"))
        else:
            log.unlink()
    except OSError:
        pass  # a log is a convenience; never a reason to fail


def _clean_up(
    conns: Connections,
    conn: Any,
    name: str,
    pump: StreamPump | None,
    pending: BaseException | None,
    transcript: Path | None = None,
    exited: bool = False,
    graceful: bool = False,
) -> None:
    """Destroy the domain and stop the console; a failure here never hides ``pending``, the boot's own error.

    A Ctrl-C that became "libvirt could not destroy" would read as a broken
    run, and the session would go on booting.
    """
    try:
        try:
            if pump is not None:
                pump.stop_polling()
            _destroy(conns, conn, name, exited, graceful)
        finally:
            if pump is not None:
                pump.close()
    except Exception as exc:
        if pending is None:
            raise
        pending.add_note(f"while cleaning up after that: {exc}")
    _keep_qemu_log(conns, name, transcript if pending is not None else None)


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


def _attach(conns: Connections, env: Environment, domain: Any, writable: bool = False) -> StreamPump:
    """The guest console through a libvirt stream, local and remote alike.

    Reading the pty directly was tried: a guest that prints its last lines
    and powers off at once (the reference guest does) can take them along,
    because the pty's unread input is dropped when QEMU closes its end.
    """
    # A blocking stream's read holds the stream's lock while the guest is quiet, so a write
    # (an input step at a prompt) would wait for ever: a console we type on does not block.
    stream = conns.open(env).newStream(conns.libvirt.VIR_STREAM_NONBLOCK if writable else 0)
    _open_console(conns.libvirt, domain, stream)
    return StreamPump(stream, polled=writable)


def boot(
    conns: Connections,
    env: Environment,
    spec: DomainSpec,
    parser: ConsoleParser | ProfileParser,
    *,
    timeout: float,
    transcript: Path,
    on_line: Callable[[str], None] | None = None,
    limit_name: str = "--hermit-timeout",
) -> BootRecord:
    """Boot ``spec`` in ``env`` once and parse its console; the domain never outlives this call.

    ``timeout`` bounds the whole boot (creating the domain, attaching the
    console, the guest's run); destroying it has DESTROY_TIMEOUT more.
    """
    conn = conns.open(env)
    lv = conns.libvirt
    if spec.serial_log is None and not env.is_xen and env.uri.startswith(EMBEDDED_QEMU):
        # Our own QEMU writes files where we can read them: its copy of the console keeps a lost tail.
        spec = replace(spec, serial_log=transcript.with_name(transcript.stem + ".serial.log"))
    xml = render(env, spec)
    transcript.parent.mkdir(parents=True, exist_ok=True)
    started_wall = time.monotonic()
    deadline = started_wall + timeout

    def left() -> float:
        return deadline - time.monotonic()

    LiveDomains.add(spec.name, conn)
    pump: StreamPump | None = None
    console_ended = False  # QEMU is likely gone by itself (see _destroy)
    created = threading.Event()
    created.set()  # nothing in flight yet
    try:
        try:
            with Reaper.adopting():
                domain = bounded(
                    "start the domain", left(), lambda: conn.createXML(xml, lv.VIR_DOMAIN_START_PAUSED), created
                )
            writable = isinstance(parser, ProfileParser) and bool(parser.profile.inputs)
            pump = bounded("attach the console", left(), lambda: _attach(conns, env, domain, writable))
            bounded("resume the domain", left(), domain.resume)
        except lv.libvirtError as exc:
            raise RunError(f"libvirt could not start the domain: {exc}", env=env.name) from None
        started = time.monotonic()
        console = pump
        seen = 0  # characters of the current line input steps saw already

        def answer() -> None:
            if isinstance(parser, ProfileParser):
                while (text := parser.take_input()) is not None:
                    bounded("write to the console", left(), lambda: console.send(text))

        def feed(line: str) -> bool:
            nonlocal seen
            if isinstance(parser, ProfileParser):
                if parser.screen_mode:
                    parser.feed_screen(line)
                else:
                    parser.feed(line, seen)
                seen = 0
                answer()
            else:
                parser.feed(line)
            if on_line is not None:
                on_line(line)
            return parser.complete

        def partial(text: str) -> bool:
            nonlocal seen
            assert isinstance(parser, ProfileParser)
            # The line so far since the last prompt answered: a prompt may arrive in pieces.
            if parser.feed_partial(text[seen:]):
                seen = len(text)
            answer()
            return parser.complete

        prompt = (lambda: parser.expecting) if isinstance(parser, ProfileParser) else None
        raw = isinstance(parser, ProfileParser) and parser.screen_mode
        try:
            outcome = read_lines(
                pump.read_fd,
                transcript,
                feed,
                timeout=left(),
                started=started,
                prompt=prompt,
                on_partial=partial,
                raw=raw,
                tail_follows=True,
            )
            console_ended = outcome.ended
            tail = lost_tail(spec.serial_log, outcome)
            if tail:
                with transcript.open("a", encoding="utf-8") as out:
                    out.write(tail.replace("\r", ""))
                pieces = [tail] if raw else [p for p in tail.split("\n") if p]
                for piece in pieces:
                    feed(piece)
        except ConsoleTimeout:
            raise BootTimeout(
                f"timed out after {timeout:.3g} s ({limit_name}) waiting for the guest to finish; "
                f"it printed {parser.line_no} line(s)",
                env=env.name,
                transcript=transcript,
            ) from None
        try:
            result = parser.finish(ended=outcome.ended)
        except RunError as exc:
            if pump.error is None or not _still_running(lv, domain):
                raise
            # The guest still runs: the console broke, not the guest's output.
            raise RunError(
                f"the console stream broke before the guest finished ({pump.error}): {exc.what}",
                env=env.name,
                transcript=transcript,
                line_no=exc.line_no,
                line=exc.line,
            ) from None
    except lv.libvirtError as exc:
        error = RunError(f"libvirt failed during the boot: {exc}", env=env.name, transcript=transcript)
        _clean_up(conns, conn, spec.name, pump, error, transcript)
        raise error from None
    except LibvirtStuck as exc:
        error = LibvirtStuck(f"{exc.what} ({limit_name} {timeout:.3g} s)", env=env.name, transcript=transcript)
        created.wait(DESTROY_TIMEOUT)
        _clean_up(conns, conn, spec.name, pump, error, transcript)
        raise error from None
    except BaseException as exc:
        # A domain still being created (timeout, Ctrl-C) would appear after
        # the destroy: let libvirt finish first.
        created.wait(DESTROY_TIMEOUT)
        _clean_up(conns, conn, spec.name, pump, exc, transcript, exited=console_ended)
        raise
    # A profiled boot: counts are whole only when the guest ends the run itself, not at a signal's moment.
    powered_off = _wait_for_power_off(conns, spec.name) if spec.graceful_exit else None
    _clean_up(conns, conn, spec.name, pump, None, exited=outcome.ended, graceful=spec.graceful_exit)
    if spec.serial_log is not None:
        spec.serial_log.unlink(missing_ok=True)
    first_ms = outcome.first_line_s * 1000 if outcome.first_line_s is not None else None
    # The whole cycle, destroy included: what a boot costs the run.
    return BootRecord(result, transcript, first_ms, time.monotonic() - started_wall, outcome.ended, powered_off)
