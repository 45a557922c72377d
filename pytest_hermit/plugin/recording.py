"""The end of a run, for the history: one record of the session's measurements appended to --hermit-history.

pytest glue: reads the session (measurements, verdicts, git state, each
measurement's context), hands the record to :mod:`pytest_hermit.history.store`,
and leaves a line for the terminal summary in ``session.notes``. Under
pytest-xdist each worker builds the measurements of its part (only it knows
its host) and the controller appends them as one record of the run
(:mod:`pytest_hermit.plugin.workers`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from pytest_hermit._version import __version__
from pytest_hermit.history import store
from pytest_hermit.history.records import MeasurementRecord, RunRecord, build_record
from pytest_hermit.plugin.session import HermitSession


def record_of(session: HermitSession) -> RunRecord:
    """The session's record: every measurement with its context and, when compared, its verdicts."""
    measured = [(m, session.context_of(m)) for m in session.measurements]
    return build_record(
        run_id=uuid.uuid4().hex,
        now=dt.datetime.now(dt.UTC),
        git=session.git,
        plugin_version=__version__,
        baseline=session.settings.gate.compare,
        measured=measured,
        judged=session.gate.judged,
    )


def record_from_workers(session: HermitSession, measured: list[MeasurementRecord]) -> RunRecord:
    """One record of a pytest-xdist run: the workers' measurements under the controller's run id and date."""
    return RunRecord(
        run_id=uuid.uuid4().hex,
        date=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        git_commit=session.git.commit,
        git_branch=session.git.branch,
        git_dirty=session.git.dirty,
        plugin_version=__version__,
        baseline=session.settings.gate.compare,
        measurements=tuple(measured),
    )


def finish(session: HermitSession, from_workers: list[MeasurementRecord] | None = None) -> bool:
    """Append the run's record when --hermit-history asks for one; False when it could not be written.

    ``from_workers``: under pytest-xdist, the record's measurements as the
    workers built them (the controller measured nothing itself).
    """
    directory = session.settings.history
    if directory is None or not session.measurements:
        return True  # nothing asked, or nothing measured: a record of nothing would only be noise
    if session.settings.ab_kernel is not None:
        session.notes.append(
            "hermit: no history record: an A/B run (--hermit-ab) measures image B, which is not this "
            "checkout's build; record plain or --hermit-compare runs"
        )
        return True
    try:
        record = record_of(session) if from_workers is None else record_from_workers(session, from_workers)
        path = store.append(directory, record)
    except Exception as exc:  # noqa: BLE001  any failure (libvirt for the host, the disk) must be a note and status 8, not an INTERNALERROR
        session.notes.append(
            f"hermit: ERROR: could not write the history record to {directory}: {exc}; "
            "the run's numbers are not in the history: check that the folder is writable (--hermit-history)"
        )
        return False
    session.notes.append(
        f"hermit: history record {path} ({len(record.measurements)} measurement(s)); "
        f"pytest-hermit history --dir {directory} shows the series"
    )
    return True
