"""The guest console: libvirt stream -> pipe -> pexpect, line by line, into a transcript.

A thread pumps the libvirt console stream into a pipe so that the reading
side is an ordinary file descriptor: pexpect waits on it with poll(), which
a Ctrl-C interrupts (a blocking libvirt ``recv`` would not), and the same
code serves local and remote URIs alike.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pexpect.fdpexpect

_CHUNK = 65536
#: How often a non-blocking console is asked for more output while the guest is quiet.
_POLL_S = 0.005
#: libvirt's "would block" from a non-blocking stream.
_WOULD_BLOCK = -2


class StreamPump:
    """Copies a libvirt stream into a pipe until the stream ends or is aborted."""

    def __init__(self, stream: Any, polled: bool = False) -> None:
        self.stream = stream
        #: The stream is non-blocking (one we write to): ask again after a pause when it has nothing.
        self.polled = polled
        self._closing = threading.Event()
        #: Why the stream stopped before its end, if it did (shown when the console ends early).
        self.error: str | None = None
        self.read_fd, self._write_fd = os.pipe()
        self._thread = threading.Thread(target=self._run, name="hermit-console", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ended = False
        try:
            while True:
                try:
                    data = self.stream.recv(_CHUNK)
                except Exception as exc:  # noqa: BLE001 - any stream error ends the console (domain gone)
                    self.error = str(exc).strip() or type(exc).__name__
                    break
                if self.polled and data == _WOULD_BLOCK:
                    if self._closing.wait(_POLL_S):
                        break
                    continue
                if not isinstance(data, bytes) or not data:
                    ended = True
                    break
                os.write(self._write_fd, data)
        finally:
            os.close(self._write_fd)
            # Release the stream here, from the thread that read it: a stream
            # left open keeps the guest's pty open in the embedded driver
            # (one file descriptor per boot, until select() fails near 1024).
            self._release(ended)

    def _release(self, ended: bool) -> None:
        try:
            if ended:
                self.stream.finish()
            else:
                self.stream.abort()
        except Exception:  # noqa: BLE001 - a stream whose domain is gone may refuse either; it is released all the same
            pass

    def send(self, text: str) -> None:
        """Type ``text`` on the guest's console (an input step of its profile)."""
        data = text.encode()
        while data:
            sent = self.stream.send(data)
            if sent == _WOULD_BLOCK:
                time.sleep(_POLL_S)
                continue
            if not isinstance(sent, int) or sent < 0:
                raise OSError(f"the console stream took no input ({sent!r})")
            data = data[sent:]

    def stop_polling(self) -> None:
        """A non-blocking stream never sees its end: stop asking (and release the stream) before the
        domain is destroyed, which waits for its console to be let go."""
        if self.polled:
            self._closing.set()
            self._thread.join(timeout=5)

    def close(self) -> None:
        """Stop pumping. Call after the domain is destroyed: the stream then ends by itself.

        Aborting a stream that libvirt already ended can block forever, so
        abort only a pump that is still running after a grace period.
        """
        if self.polled:
            self._closing.set()
        self._thread.join(timeout=2)
        if self._thread.is_alive():
            try:
                self.stream.abort()
            except Exception:  # noqa: BLE001 - the stream may end concurrently
                pass
            self._thread.join(timeout=5)
        try:
            os.close(self.read_fd)
        except OSError:
            pass


@dataclass
class ReadOutcome:
    """How reading ended, and when the first line arrived (seconds after start)."""

    ended: bool
    first_line_s: float | None
    lines: int
    #: Characters read from the console (what a serial log holds beyond them was lost on the way).
    consumed: int = 0
    #: An unfinished last line not fed (``tail_follows``): the serial log says how it ended.
    held: str = ""


class ConsoleTimeout(Exception):
    """No end of output before the deadline."""


#: How long a console stays quiet before the line so far is shown to an awaited prompt.
PROMPT_QUIET_S = 0.05

#: What pexpect holds of a line not ended yet: taken as it is when the console is quiet.
_REST_OF_LINE = re.compile(r"[^\n]+")

#: The end of an escape sequence: in screen mode each one hands the text so far to the reader.
_ESCAPE_END = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")


def read_lines(
    fd: int,
    transcript: Path,
    on_line: Callable[[str], bool],
    *,
    timeout: float,
    started: float,
    prompt: Callable[[], re.Pattern[str] | None] | None = None,
    on_partial: Callable[[str], bool] | None = None,
    raw: bool = False,
    tail_follows: bool = False,
) -> ReadOutcome:
    """Feed console lines to ``on_line`` until it returns True, the console ends, or time runs out.

    Every byte also goes to ``transcript``, flushed per line, so the file
    holds what the guest printed even after a crash or a Ctrl-C.

    ``prompt`` names what an input step waits for (a prompt ends no line):
    the line so far goes to ``on_partial`` when the pattern matches the raw
    text, or when the console has been quiet for :data:`PROMPT_QUIET_S`
    (the caller matches the visible text), and again to ``on_line`` when
    the line ends. ``raw`` (a screen mirror): ``on_line`` gets the text as
    it is, newlines and escape sequences included, cut after each newline
    and each escape sequence.
    ``tail_follows``: an unfinished last line at the console's end is not
    fed but returned (``held``), for :func:`lost_tail` to complete.
    """
    # poll(), not select(): select() fails on descriptors above 1023, which a
    # process with many open files (a long session, a big test suite) reaches.
    child = pexpect.fdpexpect.fdspawn(fd, encoding="utf-8", codec_errors="replace", timeout=timeout, use_poll=True)
    first_line: float | None = None
    count = 0
    deadline = started + timeout
    pending = ""  # the start of a line an input step saw already
    consumed = 0
    with transcript.open("w", encoding="utf-8") as out:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConsoleTimeout()
            wanted = prompt() if prompt is not None else None
            patterns: list[Any] = ["\n", pexpect.EOF, pexpect.TIMEOUT]
            if raw:
                patterns.append(_ESCAPE_END)
            elif wanted is not None:
                patterns.append(wanted)
            waiting = wanted is not None and not raw and remaining > PROMPT_QUIET_S
            index = child.expect(patterns, timeout=PROMPT_QUIET_S if waiting else remaining)
            if index == 2 and waiting:
                # A quiet console while a prompt is awaited: the prompt may be there with escape
                # sequences the raw pattern cannot see through (ash's cursor query after "# ").
                # The reader matches it on the visible text of the line so far.
                if child.buffer and on_partial is not None:
                    child.expect(_REST_OF_LINE, timeout=0)  # takes the buffered text (no newline in it)
                    piece = str(child.after)
                    consumed += len(piece)
                    pending += piece
                    if first_line is None and pending.strip():
                        first_line = time.monotonic() - started
                    if on_partial(pending):
                        out.write(pending)
                        out.flush()
                        return ReadOutcome(False, first_line, count, consumed)
                continue
            if index == 2:
                _flush_partial(pending + (child.before or ""), out)
                raise ConsoleTimeout()
            text = pending + (child.before or "")
            if index == 1:
                if tail_follows:
                    return ReadOutcome(True, first_line, count, consumed - len(pending), held=text)
                if text:
                    out.write(text)
                    out.flush()
                    count += 1
                    on_line(text)
                return ReadOutcome(True, first_line, count, consumed + len(child.before or ""))
            if first_line is None and text.strip():
                first_line = time.monotonic() - started
            if index == 3 and not raw:
                piece = (child.before or "") + str(child.after)
                consumed += len(piece)
                pending += piece
                if on_partial is not None and on_partial(pending):
                    out.write(pending)
                    out.flush()
                    return ReadOutcome(False, first_line, count, consumed)
                continue
            if raw:
                chunk = text + str(child.after)
                consumed += len(chunk)
                out.write(chunk)
                out.flush()
                count += chunk.count("\n")
                if on_line(chunk):
                    return ReadOutcome(False, first_line, count, consumed)
                continue
            consumed += len(child.before or "") + 1
            pending = ""
            out.write(text.replace("\r", "") + "\n")
            out.flush()
            count += 1
            if on_line(text):
                return ReadOutcome(False, first_line, count, consumed)


def lost_tail(serial_log: Path | None, outcome: ReadOutcome) -> str:
    """What QEMU's log of the serial port holds beyond what the console delivered.

    A guest that leaves through isa-debug-exit right after its last line
    takes that line along: QEMU exits, and the pty's unread data goes with
    it. QEMU writes its chardev log in the same call, so the log has it.
    """
    if not outcome.ended:
        return ""
    try:
        text = serial_log.read_bytes().decode("utf-8", errors="replace") if serial_log is not None else ""
    except OSError:
        text = ""
    tail = text[outcome.consumed :]
    # No log, or one that does not continue what was read: the console's own last words.
    return tail if tail.startswith(outcome.held) else outcome.held


def _flush_partial(text: object, out: Any) -> None:
    if isinstance(text, str) and text:
        out.write(text)
        out.flush()
