"""pytest-xdist: what a worker's session hands to the controller, and the controller taking it in.

Every xdist worker is a pytest session of its own: it boots its own VMs (its
own embedded libvirt root), measures and judges against the baseline. At
its end it writes no file; it puts what the files and the summary need into
``config.workeroutput``, in the JSON forms the project already has: the
results document of :mod:`pytest_hermit.report.formats`, baseline entries in
the baseline file's form, history measurements in the history record's
form. The controller takes each worker's part in as the worker goes down,
so its session holds the same measurements, verdicts, pending baseline
entries and notes a serial run would, and ``outputs`` and ``recording`` write
them once. How each test failed travels on its own report
(:data:`FAILURE_ATTR`), so the controller's tally and exit status are a
serial run's.

A worker that goes down without handing over its part (it crashed, or was
killed) takes the numbers of every test it measured with it. The
controller knows which tests those were from their reports
(:data:`MEASURED_ATTR`) and says so in the summary; it then saves no
baseline at all and writes no history record: a baseline is merged into
the saved file, so saving the rest would leave the lost tests' old entries
standing beside this run's, a file that claims to be one run and is not.
The reports are still written (what they hold is true), and the note says
what they lack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate.judge import Withheld
from pytest_hermit.history import records
from pytest_hermit.history.records import MeasurementRecord
from pytest_hermit.plugin.recording import record_of
from pytest_hermit.plugin.session import HermitSession
from pytest_hermit.report.formats import read_results, results_json, samples_document, samples_from_document
from pytest_hermit.vm.hygiene import HOST_NOTE_PREFIX

#: Key of the worker's part in ``workeroutput`` (pytest-xdist's own keys sit beside it).
KEY = "pytest_hermit"
#: Version of the part's shape: a worker and controller of different plugin versions would misread each other.
VERSION = 1
#: Attribute of a test report naming how the test failed (``outcomes.Kind.value``); pytest
#: serializes a report's attributes, so it reaches the controller with the report.
FAILURE_ATTR = "hermit_failure"
#: Attribute of a test report: the test measured with ``hermit_run`` (its numbers reach the
#: controller in its worker's part, at the worker's end, not with the report).
MEASURED_ATTR = "hermit_measured"


def worker_id(config: pytest.Config) -> str | None:
    """``gw0``, ``gw1``... in a pytest-xdist worker; None in a controller or a plain run."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput.get("workerid", "gw?"))


def worker_count(config: pytest.Config) -> int:
    """How many workers this controller starts; 0 in a worker, a plain run, or under -p no:xdist."""
    if worker_id(config) is not None:
        return 0
    if getattr(config.option, "dist", "no") == "no":
        return 0
    return len(getattr(config.option, "tx", None) or [])


def check_options(config: pytest.Config) -> None:
    """Refuse what cannot work under pytest-xdist.

    Workers on other machines (``--tx ssh=...``) would boot there with this
    machine's paths, state folder and transcripts: hosts are reached through
    libvirt URIs instead.
    """
    if worker_count(config) == 0:
        return
    remote = [str(tx) for tx in config.option.tx if not str(tx).startswith("popen")]
    if remote:
        raise pytest.UsageError(
            f"pytest-hermit runs pytest-xdist workers on this machine only (-n N); --tx {remote[0]} would "
            "boot on another machine with this one's paths. Reach other hosts through a libvirt URI "
            "(--hermit-libvirt-uri, or uri in [tool.hermit.environments.NAME]) and drop --tx"
        )


#: Key in a worker's ``workerinput`` of the controller's A/B seed.
SEED_KEY = "pytest_hermit_ab_seed"


def hand_settings(workerinput: dict[str, Any], session: HermitSession) -> None:
    """Give a starting worker the controller's drawn A/B seed.

    Workers parse the command line again: each would draw a seed of its own,
    not the one the controller's header shows.
    """
    if session.settings.ab_kernel is not None:
        workerinput[SEED_KEY] = session.settings.ab_seed


def take_settings(config: pytest.Config, session: HermitSession) -> None:
    """In a worker: use the controller's A/B seed, the one its header shows."""
    seed = getattr(config, "workerinput", {}).get(SEED_KEY)
    if seed is not None:
        session.settings = replace(session.settings, ab_seed=int(seed))


def header_lines(config: pytest.Config, session: HermitSession) -> list[str]:
    """What the header says about workers: how many, and what parallel boots do to timed numbers."""
    count = worker_count(config)
    if not count:
        return []
    lines = [
        f"hermit: pytest-xdist, {count} worker(s), each booting its own VMs; "
        "results, baseline, history and reports are gathered here and written once"
    ]
    timed = [e.name for e in session.selected if not e.icount]
    if timed and count > 1:
        lines.append(
            f"hermit: {count} workers boot at once on this host: the timed numbers of {', '.join(timed)} "
            "disturb each other (icount counts instructions and is unaffected); compare runs with the same -n"
        )
    return lines


def progress_line(config: pytest.Config, line: str) -> str:
    """A progress line saying which worker it comes from (``hermit: [gw0] ...``)."""
    worker = worker_id(config)
    if worker is None:
        return line
    head, _, rest = line.partition(": ")
    return f"{head}: [{worker}] {rest}"


# --------------------------------------------------------------------------- the worker's side


def part_of(session: HermitSession) -> dict[str, Any]:
    """The worker's part: everything the controller needs to write the run's files and summary once."""
    gate = session.gate
    references = [
        {
            "test": j.measurement.test_id,
            "env": j.measurement.env,
            "run": j.measurement.run,
            "metric": metric,
            "samples": samples_document(samples),
        }
        for j in gate.judged
        for metric, samples in j.references.items()
    ]
    pending = gate.pending()
    part: dict[str, Any] = {
        "version": VERSION,
        "results": results_json(session.measurements, gate.judged, {}),
        "references": references,
        "baseline": bl.to_document(bl.Baseline.of(gate.settings.save or "", pending)) if pending else None,
        "withheld": [{"test": w.test, "env": w.env, "run": w.run, "reason": w.reason} for w in gate.withheld],
        "notes": session.summary_notes(),
        "history": None,
        "history_error": None,
    }
    s = session.settings
    if s.history is not None and session.measurements and s.ab_kernel is None:
        try:
            # Only the worker can fingerprint its host and guest: the record is built here.
            part["history"] = records.to_document(record_of(session))
        except Exception as exc:  # noqa: BLE001  like recording.finish: a note and exit 8, never an INTERNALERROR
            part["history_error"] = f"hermit: ERROR: could not build the history record on a worker: {exc}"
    return part


def hand_over(config: pytest.Config, session: HermitSession) -> None:
    """Put the worker's part where pytest-xdist sends it to the controller."""
    config.workeroutput[KEY] = part_of(session)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the controller's side


@dataclass
class Gathered:
    """What the controller took in from its workers beyond the session's own lists."""

    #: Test id -> its place in the collection, so merged lists keep a serial run's order.
    order: dict[str, int] = field(default_factory=dict)
    #: The history record's measurements, built by the workers (they know their hosts).
    history: list[MeasurementRecord] = field(default_factory=list)
    #: Errors of workers that could not build their part of the history record.
    history_errors: list[str] = field(default_factory=list)
    parts: int = 0
    #: Worker -> the tests it measured (from their reports), in the order they ended.
    measured: dict[str, list[str]] = field(default_factory=dict)
    #: Workers that went down without handing over their part, and why (xdist's words).
    lost: dict[str, str] = field(default_factory=dict)

    def place(self, test: str) -> float:
        return self.order.get(test, math.inf)


def mark_measured(item: pytest.Item, report: pytest.TestReport) -> None:
    """In a worker: say on a test's report that the test measured (the controller's account of what a crash loses)."""
    if report.when == "call" and "hermit_run" in getattr(item, "fixturenames", ()):
        setattr(report, MEASURED_ATTR, True)


def saw(gathered: Gathered, report: pytest.TestReport) -> None:
    """In the controller: note which worker measured the test a report is of."""
    node = getattr(report, "node", None)
    if node is None or not getattr(report, MEASURED_ATTR, False):
        return
    tests = gathered.measured.setdefault(str(node.gateway.id), [])
    if report.nodeid not in tests:
        tests.append(report.nodeid)


def went_down_empty(gathered: Gathered, worker: str, error: object) -> None:
    """In the controller: a worker went down without its part (``error``: xdist's reason, e.g. a crash)."""
    gathered.lost[worker] = str(error) if error else "it sent no results"


def account_for_lost(session: HermitSession, gathered: Gathered) -> bool:
    """Say what lost workers took with them, then withhold the baseline and the history record; False if any."""
    lost = {w: gathered.measured.get(w, []) for w in gathered.lost}
    lost = {w: tests for w, tests in lost.items() if tests}
    if not lost:
        return True
    for worker, tests in lost.items():
        session.notes.append(
            f"hermit: ERROR: worker {worker} went down before handing over its results ({gathered.lost[worker]}): "
            f"the numbers of {len(tests)} test(s) it measured are missing from the summary and the reports: "
            + ", ".join(tests)
        )
    name = session.settings.gate.save
    session.gate.discard_pending()
    if name:
        session.notes.append(
            f"hermit: ERROR: baseline {name!r} not saved, not even the other tests' entries: it would lack the "
            "lost tests' numbers and keep their old entries beside this run's; run again to save it"
        )
    if session.settings.history is not None:
        gathered.history_errors.append("hermit: ERROR: no history record written: a worker's measurements were lost")
    return False


def collected(gathered: Gathered, ids: list[str]) -> None:
    """Keep the collection order (every worker collects the same tests; the first answer is enough)."""
    if not gathered.order:
        gathered.order = {nodeid: i for i, nodeid in enumerate(ids)}


def take_in(session: HermitSession, gathered: Gathered, part: dict[str, Any], worker: str) -> None:
    """Add one worker's part to the controller's session, as if its tests had run here."""
    if part.get("version") != VERSION:
        raise RuntimeError(
            f"pytest-hermit: worker {worker} sent results of version {part.get('version')!r}, the controller "
            f"reads version {VERSION}: install the same pytest-hermit for the workers and the controller"
        )
    gathered.parts += 1
    measurements, judged = read_results(part["results"])
    references = {(r["test"], r["env"], r["run"], r["metric"]): r["samples"] for r in part["references"]}
    for j in judged:
        m = j.measurement
        for c in j.comparisons:
            doc = references.get((m.test_id, m.env, m.run, c.metric))
            if doc is not None:
                j.references[c.metric] = samples_from_document(c.metric, doc)
    session.measurements.extend(measurements)
    session.gate.judged.extend(judged)
    session.measurements.sort(key=lambda m: gathered.place(m.test_id))  # stable: a test's own calls keep their order
    session.gate.judged.sort(key=lambda j: gathered.place(j.measurement.test_id))
    if part["baseline"] is not None:
        session.gate.add_pending(list(bl.from_document(part["baseline"], f"worker {worker}")))
    session.gate.withheld.extend(Withheld(**w) for w in part["withheld"])
    session.gate.withheld.sort(key=lambda w: gathered.place(w.test))
    for note in part["notes"]:
        # Every worker probes the same environments and says so; a host's preflight
        # line differs between workers only in the load each one read: keep the first.
        if _note_key(note) not in {_note_key(n) for n in session.notes}:
            session.notes.append(note)
    if part["history"] is not None:
        gathered.history.extend(records.from_document(part["history"], f"worker {worker}").measurements)
        gathered.history.sort(key=lambda m: gathered.place(m.test))
    if part["history_error"] is not None:
        gathered.history_errors.append(part["history_error"])
    if measurements:
        # The JSON report names the guest; the controller never booted, so it resolves the image once here.
        try:
            session.guest  # noqa: B018
        except Exception:  # noqa: BLE001  the workers resolved it; a report without it is no reason to fail
            pass


def _note_key(note: str) -> str:
    """What makes two workers' summary notes the same note: a host line is one per host."""
    if note.startswith(HOST_NOTE_PREFIX):
        return note.split(": ", 2)[1]  # "host LABEL"
    return note
