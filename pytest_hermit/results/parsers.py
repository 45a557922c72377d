"""Console text to results: pure parsing of the formats HermitCore prints.

The parser is fed one console line at a time, so the reader can stop as soon
as the results are complete (guests we did not build print no end marker and
may never power off). Kernel log lines (``[s.ms][core:task][LEVEL] text``) may
stand anywhere between result lines. Nothing here does I/O: the caller adds
the environment and the transcript file to the errors it raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_hermit.errors import GuestCrashed, OutputError
from pytest_hermit.results.samples import Direction

KERNEL_LOG = re.compile(r"\[\s*(\d+(?:\.\d+)?)\]\[(\d+):(\d+)\]\[(\w+)\]\s?(.*)")
# Searched, not matched: behind GRUB (Xen HVM's ISO) the first line can start
# with the menu's terminal escape codes.
HERMIT_INFO = re.compile(r"HERMIT-INFO\b(.*)$")
HERMIT_DONE = re.compile(r"HERMIT-DONE\s+status=(\w+)")
HERMIT_ERROR = re.compile(r"HERMIT-ERROR\s+(.*)$")
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")

BASIC_LINES = {
    "getpid": re.compile(r"Average time for getpid:\s*(\d+(?:\.\d+)?)\s+cycles"),
    "sched_yield": re.compile(r"Average time for sched_yield:\s*(\d+(?:\.\d+)?)\s+cycles"),
    "malloc": re.compile(r"Average time for malloc:\s*(\d+(?:\.\d+)?)\s+cycles"),
    "first_page_access": re.compile(r"Average time for the first page access:\s*(\d+(?:\.\d+)?)\s+cycles"),
}
STREAM_ROW = re.compile(
    r"^(Copy|Scale|Add|Triad):\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s*$"
)
STREAM_OK = re.compile(r"^Solution Validates")
STREAM_FAILED = re.compile(r"Failed Validation|AvgRelAbsErr|Validation failed", re.IGNORECASE)
BOOT_TIME = re.compile(r"Boot time:\s*(\d+(?:\.\d+)?)\s*ms")
PANIC = re.compile(r"\bpanic\b|Kernel panic|triple fault", re.IGNORECASE)
#: A Linux guest's panic, behind its own "[    1.234567] " timestamp.
LINUX_PANIC = re.compile(r"Kernel panic - not syncing")
BENCH_BEGIN = "/*BENCHMARK OUTPUT*/"
BENCH_END = "/*BENCHMARK OUTPUT END*/"

#: Metrics each built-in workload promises, with their units.
WORKLOAD_METRICS: dict[str, dict[str, str]] = {
    "basic": {name: "cycles" for name in BASIC_LINES},
    "stream": {f"stream_{k}": "MB/s" for k in ("copy", "scale", "add", "triad")},
    "hello": {"boot_time_guest": "ms"},
}
ERROR_LEVELS = {"ERROR", "CRIT", "CRITICAL", "PANIC", "FATAL", "EMERG"}
#: Kernel log levels a user is shown after the run: the guest says its numbers may not be what was asked.
WARNING_LEVELS = {"WARN", "WARNING", *ERROR_LEVELS}


@dataclass(frozen=True)
class GuestInfo:
    """What the guest says it runs on (HERMIT-INFO)."""

    hypervisor: str | None
    tsc_khz: int | None
    line_no: int


@dataclass(frozen=True)
class BootResult:
    """The results of one boot: ``metrics[name] = (unit, values per repetition)``."""

    metrics: dict[str, tuple[str, list[float]]]
    info: GuestInfo | None
    status: str | None
    lines: int
    #: Kernel log lines at warning level or worse that did not end the boot: (line number, text).
    warnings: tuple[tuple[int, str], ...] = ()
    #: Directions a guest profile declares (others follow from the unit: ``samples.direction_of``).
    directions: dict[str, Direction] = field(default_factory=dict)


def parse_info(text: str, line_no: int) -> GuestInfo:
    """``HERMIT-INFO hypervisor=KVMKVMKVM tsc_khz=2400000`` (key order free)."""
    fields = dict(word.split("=", 1) for word in text.split() if "=" in word)
    hypervisor = fields.get("hypervisor")
    if hypervisor in (None, "", "none"):
        hypervisor = None
    tsc = fields.get("tsc_khz")
    if tsc is not None and not tsc.isdigit():
        raise OutputError(f"HERMIT-INFO has a bad tsc_khz value {tsc!r}", line_no=line_no, line=text)
    return GuestInfo(hypervisor, int(tsc) if tsc else None, line_no)


@dataclass
class ConsoleParser:
    """Incremental parser for one boot's console output."""

    workload: str
    reps: int
    values: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    info: GuestInfo | None = None
    status: str | None = None
    line_no: int = 0
    error_line: tuple[int, str] | None = None
    panic_line: tuple[int, str] | None = None
    stream_validations: int = 0
    warnings: list[tuple[int, str]] = field(default_factory=list)
    _bench: dict[str, str] | None = None
    _bench_start: int = 0

    def feed(self, raw: str) -> None:
        """Take one console line (without its newline)."""
        self.line_no += 1
        line = ANSI_ESCAPE.sub("", raw.replace("\r", "").replace("\x00", "")).rstrip()
        if not line:
            return
        self._record(line)

    def _add(self, metric: str, unit: str, value: float) -> None:
        known = self.units.setdefault(metric, unit)
        if known != unit:
            raise OutputError(f"metric {metric} changes unit from {known} to {unit}", line_no=self.line_no, line=None)
        self.values.setdefault(metric, []).append(value)

    def _record(self, line: str) -> None:
        if self._bench is not None:
            self._bench_line(line)
            return
        if line.strip() == BENCH_BEGIN:
            self._bench, self._bench_start = {}, self.line_no
            return
        if m := HERMIT_INFO.search(line):
            self.info = parse_info(m.group(1), self.line_no)
            return
        if m := HERMIT_DONE.search(line):
            self.status = m.group(1)
            return
        if HERMIT_ERROR.search(line):
            self.error_line = self.error_line or (self.line_no, line)
            return
        log = KERNEL_LOG.search(line)
        if log:
            level, text = log.group(4).upper(), log.group(5)
            if level in ERROR_LEVELS and PANIC.search(text) and self.panic_line is None:
                self.panic_line = (self.line_no, line)
            elif level in WARNING_LEVELS:
                self.warnings.append((self.line_no, text.strip()))
            if (m := BOOT_TIME.search(text)) and self.workload == "hello":
                self._add("boot_time_guest", "ms", float(m.group(1)))
            return
        if self.panic_line is None and (
            LINUX_PANIC.search(line) or line.lstrip().upper().startswith(("PANIC", "KERNEL PANIC"))
        ):
            self.panic_line = (self.line_no, line)
            return
        if self.workload == "basic":
            for metric, pattern in BASIC_LINES.items():
                if m := pattern.search(line):
                    self._add(metric, "cycles", float(m.group(1)))
                    return
        if self.workload == "stream":
            if m := STREAM_ROW.match(line.strip()):
                self._add(f"stream_{m.group(1).lower()}", "MB/s", float(m.group(2)))
                return
            if STREAM_OK.match(line.strip()):
                self.stream_validations += 1
                return
            if STREAM_FAILED.search(line):
                raise OutputError("STREAM failed to validate its results", line_no=self.line_no, line=line)

    def _bench_line(self, line: str) -> None:
        assert self._bench is not None
        if line.strip() == BENCH_END:
            block, self._bench = self._bench, None
            missing = [k for k in ("name", "unit", "value") if not block.get(k)]
            if missing:
                raise OutputError(
                    f"benchmark block starting at line {self._bench_start} lacks {', '.join(missing)}",
                    line_no=self.line_no,
                    line=line,
                )
            try:
                number = float(block["value"])
            except ValueError:
                raise OutputError(
                    f"benchmark block {block['name']!r} has a non-numeric value {block['value']!r}",
                    line_no=self.line_no,
                    line=line,
                ) from None
            self._add(block["name"], block["unit"], number)
            return
        if KERNEL_LOG.search(line):
            return
        key, sep, text = line.partition(":")
        if sep:
            self._bench[key.strip()] = text.strip()

    @property
    def expected(self) -> dict[str, str]:
        return WORKLOAD_METRICS.get(self.workload, {})

    @property
    def ours(self) -> bool:
        """The guest speaks our protocol (reference guest): it will say when it is done."""
        return self.info is not None

    @property
    def complete(self) -> bool:
        """Nothing more to wait for: the guest ended, failed, or printed every result."""
        if self.status is not None or self.panic_line is not None:
            return True
        if self.ours or not self.expected:
            return False
        wanted = self.reps if self.workload != "hello" else 1
        counts_ok = all(len(self.values.get(m, [])) >= wanted for m in self.expected)
        if self.workload == "stream":
            counts_ok = counts_ok and self.stream_validations >= wanted
        return counts_ok

    def finish(self, *, ended: bool) -> BootResult:
        """The boot's results, or the error that explains why there are none.

        ``ended`` says the console closed (the guest powered off or was
        destroyed) rather than the parser having declared completion.
        """
        if self.panic_line is not None:
            no, text = self.panic_line
            raise GuestCrashed("the guest panicked", line_no=no, line=text)
        if self.status is not None and self.status != "ok":
            no, text = self.error_line or (self.line_no, f"HERMIT-DONE status={self.status}")
            raise GuestCrashed(f"the guest reported status={self.status}", line_no=no, line=text)
        if self._bench is not None:
            raise OutputError(
                f"benchmark block starting at line {self._bench_start} never ended", line_no=self.line_no, line=None
            )
        self._check_counts(ended)
        return BootResult(
            metrics={m: (self.units[m], list(v)) for m, v in self.values.items()},
            info=self.info,
            status=self.status,
            lines=self.line_no,
            warnings=tuple(self.warnings),
        )

    def _check_counts(self, ended: bool) -> None:
        expected = self.expected
        missing = [m for m in expected if m not in self.values]
        if missing:
            why = "the guest powered off before printing" if ended and self.status is None else "no result line for"
            raise OutputError(f"{why} {', '.join(missing)}", line_no=None, line=None)
        if self.workload == "stream":
            runs = len(self.values["stream_copy"])
            if self.stream_validations < runs:
                raise OutputError(
                    f"STREAM printed {runs} result table(s) but only "
                    f"{self.stream_validations} 'Solution Validates' line(s)"
                )
        counts = {m: len(self.values[m]) for m in expected}
        if len(set(counts.values())) > 1:
            detail = ", ".join(f"{m} x{n}" for m, n in counts.items())
            raise OutputError(f"result lines do not come in whole repetitions: {detail}")
        if self.ours and self.workload != "hello" and expected:
            got = next(iter(counts.values()))
            if got != self.reps:
                raise OutputError(f"asked for reps={self.reps} but the guest printed {got} repetition(s)")


def parse_transcript(text: str, workload: str, reps: int, *, ended: bool = True) -> BootResult:
    """Parse a whole transcript at once (recorded files, offline checks)."""
    parser = ConsoleParser(workload, reps)
    for line in text.splitlines():
        parser.feed(line)
    return parser.finish(ended=ended)
