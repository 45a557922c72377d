"""What a failed test means for CI: regression, broken run, refusal or plain failure.

The words label the failure for a person; the tally picks the process exit
status, so CI can tell "slower" from "broken" from "not comparable".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pytest_hermit.errors import ConfigError, EnvironmentUnavailable, HermitError, NotComparable, RunError
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_REFUSED, EXIT_USAGE
from pytest_hermit.gate.judge import Regression


class Kind(Enum):
    REGRESSION = "regression"
    BROKEN = "broken run"
    REFUSED = "refused"
    USAGE = "configuration error"
    OTHER = "failure"


def is_libvirt_error(error: BaseException | None) -> bool:
    """A libvirt error that reached the test (a lost host, a daemon gone): infrastructure, not the guest's speed.

    By name, so this module needs no libvirt import (it is the pytest-facing layer's, and the
    class is the one the connections module loaded)."""
    return type(error).__name__ == "libvirtError" and type(error).__module__ == "libvirt"


def classify(error: BaseException | None) -> Kind:
    if isinstance(error, Regression):
        return Kind.REGRESSION
    if isinstance(error, RunError | EnvironmentUnavailable) or is_libvirt_error(error):
        return Kind.BROKEN
    if isinstance(error, NotComparable):
        return Kind.REFUSED
    if isinstance(error, ConfigError):
        return Kind.USAGE
    return Kind.OTHER


def describe(error: BaseException) -> str | None:
    """The failure text for our own errors and libvirt's (no traceback through the plugin), else None."""
    if is_libvirt_error(error):
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
        return f"[hermit: {Kind.BROKEN.value}] libvirt: {first} (the host or its libvirt is unusable: retry elsewhere)"
    if not isinstance(error, HermitError):
        return None
    # Notes carry what went wrong after the error (a destroy that failed too).
    notes = "".join(f"\n  {note}" for note in getattr(error, "__notes__", ()))
    return f"[hermit: {classify(error).value}] {error}{notes}"


@dataclass
class Tally:
    """Failed tests by kind, for the exit status."""

    failed: dict[Kind, list[str]] = field(default_factory=dict)

    def add(self, nodeid: str, error: BaseException | None) -> None:
        self.add_kind(nodeid, classify(error))

    def add_kind(self, nodeid: str, kind: Kind) -> None:
        self.failed.setdefault(kind, []).append(nodeid)

    def exit_status(self) -> int | None:
        """A more precise status than pytest's 1, when every failure is ours and none is a regression.

        A regression or any other failure keeps 1; then configuration errors
        found only while testing (4); then broken runs (6), which a retry
        elsewhere may cure; then refusals (7), which only a new baseline cures.
        """
        if self.failed.get(Kind.REGRESSION) or self.failed.get(Kind.OTHER):
            return None
        if self.failed.get(Kind.USAGE):
            return EXIT_USAGE
        if self.failed.get(Kind.BROKEN):
            return EXIT_BROKEN
        if self.failed.get(Kind.REFUSED):
            return EXIT_REFUSED
        return None


def kind_named(value: object) -> Kind:
    """The kind a test report carries (its ``Kind.value``, which crosses from a pytest-xdist worker); OTHER if none."""
    try:
        return Kind(value)
    except ValueError:
        return Kind.OTHER
