"""One exception tree, so every outcome keeps its own meaning for CI.

A broken run (libvirt, timeout, crash, unparsable output) is not a
regression, and numbers that cannot be compared are refused rather than
compared. The plugin maps each class to a test outcome and an exit status.
"""

from __future__ import annotations

from pathlib import Path


class HermitError(Exception):
    """Base of every error the plugin reports without a traceback."""


class ConfigError(HermitError):
    """Bad options, ini values or environment definitions (a usage error)."""


class EnvironmentUnavailable(HermitError):
    """This host cannot run the environment; the message is the exact reason."""


class RunError(HermitError):
    """A boot went wrong: libvirt error, timeout, guest crash, bad output.

    Carries what a person needs to look: the workload, the environment, the
    transcript file and, where known, the console line.
    """

    def __init__(
        self,
        what: str,
        *,
        workload: str | None = None,
        env: str | None = None,
        transcript: Path | None = None,
        line_no: int | None = None,
        line: str | None = None,
    ) -> None:
        self.what = what
        self.workload = workload
        self.env = env
        self.transcript = transcript
        self.line_no = line_no
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.workload:
            where.append(f"workload {self.workload}")
        if self.env:
            where.append(f"environment {self.env}")
        head = f"{self.what}" + (f" ({', '.join(where)})" if where else "")
        parts = [head]
        if self.line_no is not None:
            parts.append(f"  at console line {self.line_no}: {self.line!r}")
        if self.transcript is not None:
            parts.append(f"  transcript: {self.transcript}")
        return "\n".join(parts)

    def located(self, *, workload: str, env: str, transcript: Path | None) -> RunError:
        """The same error with the run's context filled in (parsers know only text)."""
        return type(self)(
            self.what,
            workload=self.workload or workload,
            env=self.env or env,
            transcript=self.transcript or transcript,
            line_no=self.line_no,
            line=self.line,
        )


class BootTimeout(RunError):
    """The guest did not finish before --hermit-timeout."""


class GuestCrashed(RunError):
    """The guest panicked, reported status=error, or powered off too early."""


class OutputError(RunError):
    """The console output does not hold the results the workload promises."""


class NotComparable(HermitError):
    """Numbers that must not be compared (emulation reported on kvm, another host)."""


class HermitDeprecationWarning(DeprecationWarning):
    """A configuration spelling that still works but will go; the message names the file, table and key."""
