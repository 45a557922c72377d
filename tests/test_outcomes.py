"""Failure kinds and the exit status CI acts on."""

from __future__ import annotations

from pytest_hermit.errors import BootTimeout, NotComparable
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_REFUSED
from pytest_hermit.gate import Regression
from pytest_hermit.outcomes import Kind, Tally, classify, describe


def test_kinds_and_labels() -> None:
    assert classify(Regression("getpid regressed")) is Kind.REGRESSION
    assert classify(BootTimeout("timed out")) is Kind.BROKEN
    assert classify(NotComparable("other host")) is Kind.REFUSED
    assert classify(AssertionError("x")) is Kind.OTHER
    assert describe(BootTimeout("timed out", env="kvm")) == "[hermit: broken run] timed out (environment kvm)"
    assert describe(ValueError("x")) is None


def test_exit_status_priority() -> None:
    def status(*errors: BaseException) -> int | None:
        tally = Tally()
        for i, e in enumerate(errors):
            tally.add(f"t{i}", e)
        return tally.exit_status()

    assert status(BootTimeout("t")) == EXIT_BROKEN
    assert status(NotComparable("n")) == EXIT_REFUSED
    assert status(NotComparable("n"), BootTimeout("t")) == EXIT_BROKEN
    assert status(Regression("r"), BootTimeout("t")) is None  # pytest's 1: the regression wins
    assert status(AssertionError("a"), NotComparable("n")) is None
