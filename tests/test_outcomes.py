"""Failure kinds and the exit status CI acts on."""

from __future__ import annotations

import sys

import pytest

from pytest_hermit.errors import BootTimeout, ConfigError, EnvironmentUnavailable, NotComparable
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OUTPUT, EXIT_REFUSED, EXIT_USAGE
from pytest_hermit.gate.judge import Regression
from pytest_hermit.plugin.outcomes import Kind, Tally, classify, describe
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
    assert status(ConfigError("c"), BootTimeout("t")) == EXIT_USAGE


def test_infrastructure_failures_are_broken_runs_not_regressions() -> None:
    """CI reads 1 as "slower, do not retry": a host without the environment or a libvirt
    error outside the guest must say "retry elsewhere" (6) instead."""
    libvirt = pytest.importorskip("libvirt")
    assert classify(EnvironmentUnavailable("pvh: no Xen")) is Kind.BROKEN
    assert classify(libvirt.libvirtError("Cannot recv data: Connection reset by peer")) is Kind.BROKEN
    text = describe(libvirt.libvirtError("Cannot recv data: Connection reset by peer"))
    assert text is not None and text.startswith("[hermit: broken run] libvirt: Cannot recv data")
    assert classify(ConfigError("bad table")) is Kind.USAGE


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


def test_a_slowdown_only_ever_grows_a_timeout() -> None:
    from pytest_hermit.vm.slowdown import Slowdown, factor_of

    assert factor_of(38_000.0, 40.0) == pytest.approx(950.0)
    assert factor_of(30.0, 40.0) == 1.0
    assert Slowdown(950.0).scaled(120) == pytest.approx(114_000)
    assert Slowdown(None, "no guest").scaled(120) == 120
    with pytest.raises(ValueError, match="must be positive"):
        factor_of(0.0, 40.0)
