"""Failure kinds and the exit status CI acts on."""

from __future__ import annotations

import sys

import pytest

from pytest_hermit.errors import BootTimeout, NotComparable
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OUTPUT, EXIT_REFUSED
from pytest_hermit.gate.judge import Regression
from pytest_hermit.outcomes import Kind, Tally, classify, describe
from tests.conftest import run_pytest


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


PASSES = "def test_ok():\n    pass\n"
REGRESSES = """
from pytest_hermit.gate.judge import Regression

def test_slow():
    raise Regression("getpid regressed on qemu: 9 -> 15 cycles")
"""
BREAKS = """
from pytest_hermit.errors import BootTimeout

def test_broken():
    raise BootTimeout("no output within 1 s", env="qemu")
"""


@pytest.mark.parametrize(("test", "status"), [(REGRESSES, 1), (BREAKS, EXIT_BROKEN), (PASSES, EXIT_OUTPUT)])
def test_a_report_that_cannot_be_written_keeps_the_tests_own_status(
    pytester: pytest.Pytester, test: str, status: int
) -> None:
    pytester.makepyfile(test_x=test)
    (pytester.path / "not-a-dir").write_text("a file, so the report's folder cannot be made\n")
    result = run_pytest(pytester, "--hermit-report-md=not-a-dir/hermit.md")
    assert result.ret == status
    result.stdout.fnmatch_lines(["*hermit: ERROR: could not write a report: *not-a-dir*"])


def test_plots_without_matplotlib_are_a_usage_error_at_start_up(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    pytester.makepyfile(test_x=PASSES)
    result = run_pytest(pytester, "--hermit-plot=plots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hermit-plot needs matplotlib*pip install*or leave out --hermit-plot*"])
    result.stdout.no_fnmatch_line("*passed*")  # refused before any test ran


def test_describe_keeps_what_went_wrong_while_cleaning_up() -> None:
    error = BootTimeout("timed out", env="kvm")
    error.add_note("while cleaning up after that: libvirt could not destroy domain d")
    assert describe(error) == (
        "[hermit: broken run] timed out (environment kvm)\n"
        "  while cleaning up after that: libvirt could not destroy domain d"
    )
