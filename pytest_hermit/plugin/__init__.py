"""The pytest-facing layer, which may import anything in the package: this module holds the hooks only.

Each hook delegates to the module beside it that does the work: options
(``options``, ``argtypes``, ``pyproject``), the session's state (``session``),
the fixtures (``fixtures``), one ``hermit_run`` call (``call``), failure kinds
(``outcomes``), the end of a run (``outputs``, ``recording``) and
pytest-xdist (``workers``). The entry point ``pytest11`` names this package.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_hermit.exitcodes import EXIT_OUTPUT
from pytest_hermit.plugin import fixtures, options, outputs, recording, workers
from pytest_hermit.plugin.outcomes import Tally, classify, describe, kind_named
from pytest_hermit.plugin.session import OUTCOME_KEY, SESSION_KEY, HermitSession
from pytest_hermit.report.terminal import summary_lines
from pytest_hermit.vm.boot import LiveDomains
from pytest_hermit.vm.signals import end_on_sigterm

_TALLY = pytest.StashKey[Tally]()
#: Under pytest-xdist, in the controller: what its workers handed over.
_GATHERED = pytest.StashKey[workers.Gathered]()

MARKER_DOC = (
    "hermit(envs=None, guest=None): run this test only in the named environments "
    "(a list of names; the others of --hermit-env are skipped for it), and boot the guest of "
    "guest profile NAME (built-in reference, hermitcore, linux, or [tool.hermit.guests.NAME]) "
    "instead of --hermit-guest's."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    if config.option.help:
        return
    workers.check_options(config)
    config.stash[SESSION_KEY] = HermitSession.from_config(config)
    config.stash[_TALLY] = Tally()
    if workers.worker_count(config):
        config.stash[_GATHERED] = workers.Gathered()
    config.pluginmanager.register(_Counting(config.stash[_TALLY], config.stash.get(_GATHERED, None)), "hermit-tally")
    workers.take_settings(config, config.stash[SESSION_KEY])
    config.pluginmanager.register(fixtures, "hermit-fixtures")
    # A CI job cancelled with SIGTERM must still destroy its VMs.
    end_on_sigterm()


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
    sizes = sorted({(s.boots_for(e), s.reps_for(e)) for e in session.selected}, reverse=True)
    if len(sizes) == 1:
        size = f"{sizes[0][0]} boots x {sizes[0][1]} reps"
    else:
        size = ", ".join(f"{e.name} {s.boots_for(e)} boots x {s.reps_for(e)} reps" for e in session.selected)
    lines = [f"hermit: environments {envs}; {size}, timeout {s.timeout:g} s"]
    if session.default_note:
        lines.append(session.default_note)
    if s.ab_kernel is not None:
        lines.append(
            f"hermit: A/B run, B = {s.ab_kernel} {s.ab_cmdline}; random boot order seed {s.ab_seed} (--hermit-ab-seed)"
        )
    elif s.gate.compare:
        lines.append(f"hermit: comparing with baseline {s.gate.compare!r} in {s.gate.baseline_dir}")
    return lines + workers.header_lines(config, session)


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


def pytest_collection_finish(session: pytest.Session) -> None:
    hermit = session.config.stash.get(SESSION_KEY, None)
    if hermit is None:
        return
    problem = hermit.image_problem(session.items)
    if problem is not None:
        # Before any boot: a guest that is not there is the configuration's fault (exit 4), not a test's.
        pytest.exit(f"hermit: {problem}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    workers.mark_measured(item, report)
    if report.when == "call" or report.failed:
        item.stash[OUTCOME_KEY] = report.outcome
    if not report.failed:
        return
    error = call.excinfo.value if call.excinfo is not None else None
    text = describe(error) if error is not None else None
    if text is not None:
        # Our errors already say what went wrong and where; a traceback through
        # the plugin would only bury that.
        report.longrepr = text
    # On the report, not only in this process: a pytest-xdist controller sees the report alone.
    setattr(report, workers.FAILURE_ATTR, classify(error).value)


class _Counting:
    """Counts failed tests by kind from their reports: the serial run's and the ones workers send alike.

    Under pytest-xdist it also notes which worker measured which test (``workers.saw``).
    """

    def __init__(self, tally: Tally, gathered: workers.Gathered | None) -> None:
        self.tally = tally
        self.gathered = gathered

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.gathered is not None:
            workers.saw(self.gathered, report)
        if report.failed:
            self.tally.add_kind(report.nodeid, kind_named(getattr(report, workers.FAILURE_ATTR, None)))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not (session.measurements or session.notes):
        return  # notes alone matter too: what was not saved when every run broke
    terminalreporter.section("hermit results")
    for line in summary_lines(
        session.measurements, session.gate.judged, session.comparison_label, session.summary_notes()
    ):
        terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if SESSION_KEY not in config.stash:
        return
    LiveDomains.destroy_all()
    hermit = config.stash[SESSION_KEY]
    if workers.worker_id(config) is not None:
        workers.hand_over(config, hermit)  # the controller writes everything, once
        return
    gathered = config.stash.get(_GATHERED, None)
    complete = gathered is None or workers.account_for_lost(hermit, gathered)
    written = outputs.finish(hermit)
    # After the reports: a failure of one never stops the other.
    if gathered is None:
        recorded = recording.finish(hermit)
    elif gathered.history_errors:
        hermit.notes.extend(gathered.history_errors)
        recorded = False
    else:
        recorded = recording.finish(hermit, gathered.history)
    if exitstatus == pytest.ExitCode.TESTS_FAILED:
        status = config.stash[_TALLY].exit_status()
        if status is not None:
            session.exitstatus = status
    if not (written and recorded and complete) and session.exitstatus == pytest.ExitCode.OK:
        # A regression (1) or broken run (6) must keep its status; only a run
        # that would otherwise pass says that its outputs are missing.
        session.exitstatus = EXIT_OUTPUT


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    session = node.config.stash.get(SESSION_KEY, None)
    if session is not None:
        workers.hand_settings(node.workerinput, session)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    gathered = node.config.stash.get(_GATHERED, None)
    if gathered is not None:
        workers.collected(gathered, ids)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    config = node.config
    gathered = config.stash.get(_GATHERED, None)
    part = getattr(node, "workeroutput", {}).get(workers.KEY)
    if gathered is None:
        return
    if part is None:
        workers.went_down_empty(gathered, node.gateway.id, error)
    else:
        workers.take_in(config.stash[SESSION_KEY], gathered, part, node.gateway.id)
