"""pytest hooks of pytest-hermit; each delegates to the module that does the work."""

from __future__ import annotations

import signal
from collections.abc import Generator
from typing import Any

import pytest

from pytest_hermit import fixtures, options, reports
from pytest_hermit.errors import HermitError, NotComparable, RunError
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_REFUSED
from pytest_hermit.gate import Regression
from pytest_hermit.session import HermitSession
from pytest_hermit.state import OUTCOME_KEY, SESSION_KEY
from pytest_hermit.summary import build_comparison_tables, build_tables
from pytest_hermit.tables import render_text
from pytest_hermit.vm import LiveDomains

_BROKEN = pytest.StashKey[list[str]]()
_REFUSED = pytest.StashKey[list[str]]()
_FAILED_OTHER = pytest.StashKey[list[str]]()

MARKER_DOC = (
    "hermit(envs=None): run this test only in the named environments "
    "(a list of names; the others of --hermit-env are skipped for it)."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    if config.option.help:
        return
    config.stash[SESSION_KEY] = HermitSession.from_config(config)
    config.stash[_BROKEN] = []
    config.stash[_REFUSED] = []
    config.stash[_FAILED_OTHER] = []
    config.pluginmanager.register(fixtures, "hermit-fixtures")
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A CI job cancelled with SIGTERM must still destroy its VMs: run the
        # same clean-up paths as Ctrl-C.
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        LiveDomains.destroy_all()
        session.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return []
    s = session.settings
    envs = ", ".join(f"{e.name} ({e.uri})" for e in session.selected)
    lines = [f"hermit: environments {envs}; {s.boots} boots x {s.reps} reps, timeout {s.timeout:g} s"]
    if s.ab_kernel is not None:
        lines.append(
            f"hermit: A/B run, B = {s.ab_kernel} {s.ab_cmdline}; random boot order seed {s.ab_seed} (--hermit-ab-seed)"
        )
    elif s.gate.compare:
        lines.append(f"hermit: comparing with baseline {s.gate.compare!r} in {s.gate.baseline_dir}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION_KEY, None)
    if session is None or "hermit_env" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("hermit")
    wanted = None
    if marker is not None:
        wanted = marker.kwargs.get("envs", marker.args[0] if marker.args else None)
        if isinstance(wanted, str):
            wanted = [wanted]
        unknown = [n for n in wanted or [] if n not in session.registry]
        if unknown:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: @pytest.mark.hermit names unknown environment(s) "
                f"{', '.join(unknown)}; known: {', '.join(session.registry)}"
            )
    params = []
    for env in session.selected:
        marks = []
        if wanted is not None and env.name not in wanted:
            marks.append(pytest.mark.skip(reason=f"@pytest.mark.hermit limits this test to {', '.join(wanted)}"))
        params.append(pytest.param(env, id=env.name, marks=marks))
    metafunc.parametrize("hermit_env", params, indirect=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call" or report.failed:
        item.stash[OUTCOME_KEY] = report.outcome
    if not report.failed:
        return
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, HermitError):
        # Our errors already say what went wrong and where; a traceback through
        # the plugin would only bury that.
        error = excinfo.value
        kind = (
            "regression"
            if isinstance(error, Regression)
            else "refused"
            if isinstance(error, NotComparable)
            else "broken run"
        )
        report.longrepr = f"[hermit: {kind}] {excinfo.value}"
    if excinfo is not None and isinstance(excinfo.value, RunError):
        item.config.stash[_BROKEN].append(item.nodeid)
    elif excinfo is not None and isinstance(excinfo.value, NotComparable):
        item.config.stash[_REFUSED].append(item.nodeid)
    else:
        item.config.stash[_FAILED_OTHER].append(item.nodeid)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.measurements:
        return
    terminalreporter.section("hermit results")
    for table in build_tables(session.measurements):
        terminalreporter.write_line(render_text(table))
        terminalreporter.write_line("")
    for table in build_comparison_tables(session.gate.judged, session.comparison_label or ""):
        terminalreporter.write_line(render_text(table))
        terminalreporter.write_line("")
    for line in session.notes:
        terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if SESSION_KEY not in config.stash:
        return
    LiveDomains.destroy_all()
    hermit = config.stash[SESSION_KEY]
    try:
        saved = hermit.gate.save()
    except HermitError as exc:
        hermit.notes.append(f"hermit: could not save the baseline: {exc}")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        return
    if saved is not None:
        hermit.notes.append(f"hermit: saved baseline {hermit.gate.settings.save!r} to {saved}")
    try:
        hermit.notes.extend(reports.write_all(hermit))
    except OSError as exc:
        hermit.notes.append(f"hermit: could not write a report: {exc}")
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    if exitstatus == pytest.ExitCode.TESTS_FAILED and not config.stash[_FAILED_OTHER]:
        # A regression (or any other failure) wins; then broken runs, which a
        # retry may cure; then refusals, which only a new baseline cures.
        if config.stash[_BROKEN]:
            session.exitstatus = EXIT_BROKEN
        elif config.stash[_REFUSED]:
            session.exitstatus = EXIT_REFUSED
