"""History records -> series: one per metric measured the same way, its points in commit order.

A series is keyed by what makes its numbers comparable: test, ``hermit_run``
call, environment, metric (with its unit and direction), the host
fingerprint, the guest command line and the environment's definition (the
fields a baseline comparison checks: machine, memory, vCPUs, icount...).
Records that differ in any of these are kept apart, never mixed: another
host or another command line would read as a change of the code.

A point is one commit: the boots of every record of that commit pooled
(each boot summarised by the median of its repetitions, as the gate does).
Points are ordered by the repository's topology when it holds every
commit, else by the date of their first record. Records of a dirty tree are
left out (their numbers are not the commit's); records without a commit are
points of their own, ordered by date.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pytest_hermit.gate.baselines import DEFINITION_KEYS, EXACT_HOST_FIELDS, HostFingerprint
from pytest_hermit.history.commits import CommitLog
from pytest_hermit.history.records import MeasurementRecord, RunRecord
from pytest_hermit.results.measurement import HOST_MEASURED
from pytest_hermit.results.samples import Direction

__all__ = ["DATE_ORDER", "GIT_ORDER", "Filters", "History", "Point", "Series", "SeriesKey", "build_history", "short"]

GIT_ORDER = "git"
DATE_ORDER = "date"
#: Characters of a commit's sha shown to people.
SHORT = 10


def short(commit: str | None) -> str:
    return commit[:SHORT] if commit else "(no commit)"


@dataclass(frozen=True)
class SeriesKey:
    """What must be equal for two numbers to sit in one series."""

    test: str
    run: str
    env: str
    metric: str
    unit: str
    direction: Direction
    host: HostFingerprint
    guest_cmdline: str
    #: The environment definition's fields that change numbers, as (key, JSON value).
    definition: tuple[tuple[str, str], ...]
    #: The environment counts instructions: equal values are exact, not a coincidence.
    counted: bool

    @property
    def exact_allowed(self) -> bool:
        """The metric may be exact: counted by the guest under icount, not timed by the host."""
        return self.counted and self.metric not in HOST_MEASURED

    def label(self) -> str:
        return f"{self.test} {self.run} on {self.env}: {self.metric}"

    def sort_key(self) -> tuple[str, ...]:
        return (
            self.test,
            self.run,
            self.env,
            self.metric,
            self.unit,
            self.guest_cmdline,
            json.dumps(self.definition),
            json.dumps(self.host.as_dict(), sort_keys=True),
        )

    def host_words(self) -> str:
        h = self.host
        parts = [h.cpu_model, f"kernel {h.host_kernel}", f"libvirt {h.libvirt_version}", f"QEMU {h.qemu_version}"]
        if h.emulated:
            parts.append("emulated")
        return ", ".join(p for p in parts if p.split(" ")[-1])


@dataclass(frozen=True)
class Point:
    """One commit of a series (or one record, when it has no commit)."""

    commit: str | None
    #: The commit's subject line, when git knows the commit.
    subject: str | None
    #: Date of the point's first record (ISO 8601, UTC).
    date: str
    #: The records pooled here.
    run_ids: tuple[str, ...]
    #: Per-boot values (median of each boot's repetitions) of every record, pooled.
    values: tuple[float, ...]
    #: Guest images measured (several when a commit was rebuilt differently).
    guest_sha256: tuple[str, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float | None:
        """Interquartile range relative to the median; None with fewer than two values."""
        if len(self.values) < 2:
            return None
        q1, _, q3 = statistics.quantiles(self.values, n=4, method="inclusive")
        return (q3 - q1) / abs(self.median) if self.median else None

    @property
    def label(self) -> str:
        return short(self.commit) if self.commit else self.date


@dataclass(frozen=True)
class Series:
    key: SeriesKey
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Filters:
    """Which series to build: environments and metrics by name, tests by part of their id, records by branch."""

    envs: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    tests: tuple[str, ...] = ()
    branch: str | None = None

    def keeps(self, m: MeasurementRecord, metric: str) -> bool:
        return (
            (not self.envs or m.env in self.envs)
            and (not self.metrics or metric in self.metrics)
            and (not self.tests or any(t in m.test for t in self.tests))
        )


@dataclass(frozen=True)
class History:
    """The series of a set of records, how they were ordered, and what was left out and why."""

    series: tuple[Series, ...]
    #: :data:`GIT_ORDER` or :data:`DATE_ORDER`.
    ordering: str
    records: int
    notes: tuple[str, ...] = ()


def _series_host(m: MeasurementRecord, metric: str) -> HostFingerprint:
    """The host fields that can change this metric's numbers.

    A counted metric (icount) depends on QEMU's version only (the gate's
    rule, ``EXACT_HOST_FIELDS``): CI runners of one pool differ in CPU model
    and kernel, and keying on those would cut an icount history into one
    series per runner, each too short to show a step.
    """
    if not m.counted or metric in HOST_MEASURED:
        return m.host
    kept = {k: v for k, v in m.host.as_dict().items() if k in EXACT_HOST_FIELDS}
    return HostFingerprint(**kept)


def _key(m: MeasurementRecord, metric: str, unit: str, direction: Direction) -> SeriesKey:
    definition = tuple((k, json.dumps(m.environment.get(k), sort_keys=True)) for k in DEFINITION_KEYS)
    host = _series_host(m, metric)
    return SeriesKey(m.test, m.run, m.env, metric, unit, direction, host, m.guest_cmdline, definition, m.counted)


@dataclass
class _Pool:
    commit: str | None
    date: str
    when: dt.datetime
    run_ids: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


def _point_id(record: RunRecord) -> str:
    return record.git_commit or f"record:{record.run_id}"


def _ordering(records: Sequence[RunRecord], log: CommitLog | None) -> tuple[str, list[str]]:
    commits = {r.git_commit for r in records}
    if log is None:
        return DATE_ORDER, []
    unknown = sorted(c or "(no commit)" for c in commits if c is None or not log.knows(c))
    if not unknown or not records:
        return GIT_ORDER, []
    shown = ", ".join(short(c) if c != "(no commit)" else c for c in unknown[:3])
    more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
    return DATE_ORDER, [
        f"ordered by record date, not by commits: the repository at {log.source or '.'} does not hold "
        f"{len(unknown)} of the records' commits ({shown}{more}); run in a clone with the whole history "
        "(CI: fetch-depth 0), or pass --repo"
    ]


def build_history(records: Iterable[RunRecord], log: CommitLog | None, filters: Filters = Filters()) -> History:
    """The series of ``records`` (see the module docstring), each with its points in commit order."""
    notes: list[str] = []
    usable = []
    dirty = 0
    other_branch = 0
    for r in records:
        if filters.branch is not None and r.git_branch != filters.branch:
            other_branch += 1
        elif r.git_dirty:
            dirty += 1
        else:
            usable.append(r)
    if dirty:
        notes.append(
            f"left out {dirty} record(s) of a tree with uncommitted changes: their numbers are not their commit's"
        )
    if other_branch:
        notes.append(f"left out {other_branch} record(s) of other branches than {filters.branch!r}")
    ordering, why = _ordering(usable, log)
    notes.extend(why)

    pools: dict[SeriesKey, dict[str, _Pool]] = {}
    for r in sorted(usable, key=lambda r: (r.when, r.run_id)):
        for m in r.measurements:
            for mr in m.metrics:
                s = mr.samples
                if not filters.keeps(m, s.metric) or not s.per_boot:
                    continue
                by_point = pools.setdefault(_key(m, s.metric, s.unit, s.direction), {})
                pool = by_point.setdefault(_point_id(r), _Pool(r.git_commit, r.date, r.when))
                if r.run_id not in pool.run_ids:
                    pool.run_ids.append(r.run_id)
                pool.values.extend(s.boot_medians)
                if m.guest_sha256 not in pool.images:
                    pool.images.append(m.guest_sha256)

    def position(pool: _Pool) -> tuple[int, dt.datetime]:
        if ordering == GIT_ORDER and log is not None and pool.commit is not None:
            return (log.positions[pool.commit], pool.when)
        return (0, pool.when)

    series = []
    for key in sorted(pools, key=SeriesKey.sort_key):
        ordered = sorted(pools[key].values(), key=position)
        points = tuple(
            Point(
                commit=p.commit,
                subject=log.subjects.get(p.commit) if log is not None and p.commit else None,
                date=p.date,
                run_ids=tuple(p.run_ids),
                values=tuple(p.values),
                guest_sha256=tuple(p.images),
            )
            for p in ordered
        )
        series.append(Series(key, points))
    return History(tuple(series), ordering, len(usable), tuple(notes))
