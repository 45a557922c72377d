"""One boot's console read through a guest profile: metrics, input steps, the end.

Fed as the console arrives (lines, or raw text in screen mode), so the
reader can stop the boot as soon as the profile's ``end`` matched, and knows
what to type when an ``input`` step's prompt appears. A built-in profile's
formats (reference guest, HermitCore, hermit-os blocks) are read by
:class:`~pytest_hermit.results.parsers.ConsoleParser` inside this one, so
every guest goes through the same steps. Pure: the caller writes to the
console and adds the run's context to the errors raised here.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from pytest_hermit.errors import OutputError
from pytest_hermit.results.parsers import ANSI_ESCAPE, BootResult, ConsoleParser
from pytest_hermit.results.profiles import GuestProfile, fill
from pytest_hermit.results.samples import Direction
from pytest_hermit.results.screen import Screen

#: Console lines shown with an error about missing metrics.
TAIL_LINES = 8


@dataclass
class ProfileParser:
    """Incremental reader of one boot's console for ``profile``."""

    profile: GuestProfile
    workload: str
    reps: int
    line_no: int = 0
    values: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    directions: dict[str, Direction] = field(default_factory=dict)
    ended_by_pattern: bool = False
    _inner: ConsoleParser | None = None
    _step: int = 0
    _to_send: list[str] = field(default_factory=list)
    _tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    _screen: Screen | None = None

    def __post_init__(self) -> None:
        if self.profile.hermit_formats:
            self._inner = ConsoleParser(self.workload, self.reps)
        if self.profile.console == "screen":
            self._screen = Screen(rows=25, cols=80)

    # -- what the console reader calls -------------------------------------------------

    @property
    def screen_mode(self) -> bool:
        return self._screen is not None

    @property
    def expecting(self) -> re.Pattern[str] | None:
        """The prompt the next input step waits for, or None."""
        steps = self.profile.inputs
        return steps[self._step].expect if self._step < len(steps) else None

    def feed(self, raw: str, seen: int = 0) -> None:
        """Take one console line (without its newline); lines mode.

        ``seen``: characters at its start that :meth:`feed_partial` showed the
        input steps already (a prompt), so a step is not answered twice.
        """
        self.line_no += 1
        if self._inner is not None:
            self._inner.feed(raw)
        line = _clean(raw)
        if not line:
            return
        self._tail.append(line)
        self._prompted(_visible(raw[seen:]))
        for spec in self.profile.metrics:
            got = spec.read(line)
            if got is not None:
                self._add(*got, spec.unit, spec.better, line)
                break
        if self.profile.end is not None and self.profile.end.search(line):
            self.ended_by_pattern = True

    def feed_partial(self, text: str) -> bool:
        """Text of a line not ended yet (a prompt): only input steps look at it. True when a step answered."""
        return self._prompted(_visible(text))

    def feed_screen(self, chunk: str) -> None:
        """Raw console text in screen mode: the screen is redrawn, then read row by row."""
        assert self._screen is not None
        self.line_no += chunk.count("\n")
        self._screen.feed(chunk)
        rows = [row.rstrip() for row in self._screen.rows()]
        self._tail.clear()
        self._tail.extend(row for row in rows if row.strip())
        for row in rows:
            self._prompted(row)
            for spec in self.profile.metrics:
                got = spec.read(row)
                if got is not None:
                    name, value = got
                    # A screen shows the latest figure: one value per boot, the last one shown.
                    self.values[name] = []
                    self._add(name, value, spec.unit, spec.better, row)
                    break
            if self.profile.end is not None and self.profile.end.search(row):
                self.ended_by_pattern = True

    def take_input(self) -> str | None:
        """Text to type now, if a step's prompt appeared."""
        return self._to_send.pop(0) if self._to_send else None

    @property
    def complete(self) -> bool:
        """Nothing more to wait for: the profile's end matched, or the built-in formats are done."""
        if self.ended_by_pattern:
            return True
        return self._inner is not None and self._inner.complete

    # -- the result ---------------------------------------------------------------------

    def finish(self, *, ended: bool) -> BootResult:
        """The boot's results, or the error naming what is missing (and the last console lines)."""
        base = self._inner.finish(ended=ended) if self._inner is not None else None
        missing = [name for name in self.profile.required if name not in self.values]
        if missing:
            how = "the guest ended" if ended else "the boot ended"
            if self.profile.end is not None and self.ended_by_pattern:
                how = f"the end pattern {self.profile.end.pattern!r} matched"
            tail = "\n".join(f"    {line}" for line in self._tail) or "    (no console output)"
            raise OutputError(
                f"{how} without metric(s) {', '.join(missing)} declared by guest profile "
                f"{self.profile.name!r} ({self.profile.source}); the last console lines:\n{tail}"
            )
        if self.inputs_left:
            step = self.profile.inputs[self._step]
            raise OutputError(
                f"{'the guest ended' if ended else 'the boot ended'} before input step #{self._step + 1} "
                f"of guest profile {self.profile.name!r} saw its prompt {step.expect.pattern!r}"
            )
        if base is not None and not self.values:
            return base
        metrics = dict(base.metrics) if base is not None else {}
        for name, values in self.values.items():
            metrics[name] = (self.units[name], list(values))
        directions = dict(base.directions) if base is not None else {}
        directions.update(self.directions)
        return BootResult(
            metrics=metrics,
            info=base.info if base is not None else None,
            status=base.status if base is not None else None,
            lines=self.line_no,
            warnings=base.warnings if base is not None else (),
            directions=directions,
        )

    @property
    def inputs_left(self) -> bool:
        return self._step < len(self.profile.inputs)

    def _prompted(self, text: str) -> bool:
        expect = self.expecting
        if expect is None or not expect.search(text):
            return False
        self._to_send.append(fill(self.profile.inputs[self._step].send, self.workload, self.reps))
        self._step += 1
        return True

    def _add(self, name: str, value: float, unit: str, better: Direction, line: str) -> None:
        known = self.units.setdefault(name, unit)
        if known != unit:
            raise OutputError(f"metric {name} changes unit from {known} to {unit}", line_no=self.line_no, line=line)
        self.directions[name] = better
        self.values.setdefault(name, []).append(value)


def _visible(raw: str) -> str:
    """Console text as a person sees it: no escape sequences, carriage returns or NULs (a prompt keeps its space)."""
    return ANSI_ESCAPE.sub("", raw.replace("\r", "").replace("\x00", ""))


def _clean(raw: str) -> str:
    """A console line as metric patterns read it: visible text without trailing blanks."""
    return _visible(raw).rstrip()
