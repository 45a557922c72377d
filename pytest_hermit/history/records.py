"""History records: one JSON document per pytest run, what it measured and where (format in docs/reports.md).

A record is never rewritten once written (:mod:`pytest_hermit.history.store`
appends and reads them); this module is the pure part: the dataclasses,
building a record from a session's measurements, and the JSON-shaped
document both ways, with errors that name the file and the field::

    {"schema": "pytest-hermit/history", "version": 1,
     "run_id": "5f0c...", "date": "2025-06-01T12:00:00.123+00:00",
     "git_commit": "3e1f...", "git_branch": "main", "git_dirty": false,
     "plugin_version": "0.4.0", "baseline": "main",
     "measurements": [{"test": "tests/test_x.py::test_basic[icount]", "env": "icount", "run": "basic",
                       "workload": "basic", "boots": 1, "reps": 1, "counted": true, "emulated": true,
                       "hypervisor": "TCGTCGTCGTCG", "tsc_khz": 1000000,
                       "environment": {...}, "host": {...}, "guest_sha256": "...", "guest_cmdline": "...",
                       "metrics": {"getpid": {"unit": "cycles", "direction": "lower",
                                              "per_boot": [[15.0]], "verdict": null}}}]}

A measurement taken under --hermit-profile also has ``"profile"``: the
guest's instructions per function, compressed as in baselines
(:mod:`pytest_hermit.profile.profile`), for ``pytest-hermit explain``.

``run_id`` is the record's own id; ``run`` is the identity of a
``hermit_run`` call within its test (as in baselines). ``verdict`` is the
metric's comparison when the run compared (``--hermit-compare``), else null.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hermit.errors import HermitError
from pytest_hermit.gate.baselines import Context, HostFingerprint
from pytest_hermit.gate.git import GitState
from pytest_hermit.gate.judge import Judged
from pytest_hermit.gate.stats import Comparison
from pytest_hermit.profile.profile import FunctionProfile, ProfileError
from pytest_hermit.results.fields import Fields
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Direction, Samples

__all__ = [
    "READABLE_VERSIONS",
    "SCHEMA",
    "VERSION",
    "MeasurementRecord",
    "MetricRecord",
    "RecordError",
    "RecordedVerdict",
    "RunRecord",
    "build_record",
    "from_document",
    "parse",
    "to_document",
]

SCHEMA = "pytest-hermit/history"
VERSION = 1
READABLE_VERSIONS = (1,)


class RecordError(HermitError):
    """A history record that cannot be used: corrupt JSON, another schema or version, a bad field.

    The message names the file and the field; the file itself is never modified.
    """

    def __init__(self, path: Path | str, what: str) -> None:
        self.path = Path(path)
        self.what = what
        super().__init__(f"history record {self.path}: {what}")


@dataclass(frozen=True)
class RecordedVerdict:
    """The comparison of one metric with the baseline (or image A) of the run, as the gate decided it."""

    #: "regression", "improvement", "unchanged" or "inconclusive".
    verdict: str
    #: "exact", "bootstrap" or "paired".
    method: str
    #: Relative change, positive = worse.
    change: float
    interval: tuple[float, float]
    confidence: float
    p_value: float
    p_adjusted: float
    tolerance: float

    @classmethod
    def of(cls, c: Comparison) -> RecordedVerdict:
        return cls(
            c.verdict.name.lower(),
            c.method,
            c.change,
            (c.interval.low, c.interval.high),
            c.interval.level,
            c.p_value,
            c.p_adjusted,
            c.tolerance,
        )


@dataclass(frozen=True)
class MetricRecord:
    """One metric's samples (boots x repetitions) and its verdict, if the run compared."""

    samples: Samples
    verdict: RecordedVerdict | None = None


@dataclass(frozen=True)
class MeasurementRecord:
    """One ``hermit_run`` call's numbers with what made them: environment, host, guest."""

    test: str
    env: str
    #: The call's identity within its test (``Measurement.run``).
    run: str
    workload: str
    boots: int
    reps: int
    environment: Mapping[str, Any]
    host: HostFingerprint
    guest_sha256: str
    guest_cmdline: str
    metrics: tuple[MetricRecord, ...]
    #: The environment counts instructions (icount): its numbers may be exact.
    counted: bool = False
    emulated: bool = False
    hypervisor: str | None = None
    tsc_khz: int | None = None
    #: --hermit-profile: the guest's instructions per function.
    profile: FunctionProfile | None = None


@dataclass(frozen=True)
class RunRecord:
    """One pytest run: when, which commit, and every measurement it took."""

    run_id: str
    #: ISO 8601, UTC.
    date: str
    git_commit: str | None
    git_branch: str | None
    #: Tracked files differed from the commit: the numbers are not the commit's. None: unknown.
    git_dirty: bool | None
    plugin_version: str
    #: The baseline the run compared with (``--hermit-compare``), or None.
    baseline: str | None
    measurements: tuple[MeasurementRecord, ...]

    @property
    def when(self) -> dt.datetime:
        """The date as an aware datetime (validated when the record was read or built)."""
        return _parse_date(self.date)


def _parse_date(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError("no time zone")
    return when


def build_record(
    run_id: str,
    now: dt.datetime,
    git: GitState,
    plugin_version: str,
    baseline: str | None,
    measured: Iterable[tuple[Measurement, Context]],
    judged: Iterable[Judged] = (),
) -> RunRecord:
    """The record of a run: each measurement with its context, and the verdicts of those that were compared.

    A judged measurement may hold more boots than the one first measured
    (boots added while undecided); the judged one is what the verdict is
    about, so it is recorded in its place.
    """
    verdicts = {(j.measurement.test_id, j.measurement.env, j.measurement.run): j for j in judged}
    measurements = []
    for m, context in measured:
        j = verdicts.get((m.test_id, m.env, m.run))
        if j is not None:
            m = j.measurement
        by_metric = {c.metric: RecordedVerdict.of(c) for c in (j.comparisons if j is not None else [])}
        measurements.append(
            MeasurementRecord(
                test=m.test_id,
                env=m.env,
                run=m.run,
                workload=m.workload,
                boots=m.boots,
                reps=m.reps,
                environment=dict(context.environment),
                host=context.host,
                guest_sha256=context.guest_sha256,
                guest_cmdline=context.guest_cmdline,
                metrics=tuple(MetricRecord(s, by_metric.get(name)) for name, s in m.samples.items()),
                counted=m.counted,
                emulated=m.emulated,
                hypervisor=m.hypervisor,
                tsc_khz=m.tsc_khz,
                profile=m.profile,
            )
        )
    return RunRecord(
        run_id=run_id,
        date=now.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        git_commit=git.commit,
        git_branch=git.branch,
        git_dirty=git.dirty,
        plugin_version=plugin_version,
        baseline=baseline,
        measurements=tuple(measurements),
    )


# --------------------------------------------------------------------------- to JSON


def _verdict_doc(v: RecordedVerdict | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "verdict": v.verdict,
        "method": v.method,
        "change": v.change,
        "interval": list(v.interval),
        "confidence": v.confidence,
        "p_value": v.p_value,
        "p_adjusted": v.p_adjusted,
        "tolerance": v.tolerance,
    }


def to_document(record: RunRecord) -> dict[str, Any]:
    """The JSON-shaped document of a record (the file holds exactly this)."""
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "run_id": record.run_id,
        "date": record.date,
        "git_commit": record.git_commit,
        "git_branch": record.git_branch,
        "git_dirty": record.git_dirty,
        "plugin_version": record.plugin_version,
        "baseline": record.baseline,
        "measurements": [
            {
                "test": m.test,
                "env": m.env,
                "run": m.run,
                "workload": m.workload,
                "boots": m.boots,
                "reps": m.reps,
                "counted": m.counted,
                "emulated": m.emulated,
                "hypervisor": m.hypervisor,
                "tsc_khz": m.tsc_khz,
                "environment": dict(m.environment),
                "host": m.host.as_dict(),
                "guest_sha256": m.guest_sha256,
                "guest_cmdline": m.guest_cmdline,
                "metrics": {
                    mr.samples.metric: {
                        "unit": mr.samples.unit,
                        "direction": mr.samples.direction.value,
                        "per_boot": [list(boot) for boot in mr.samples.per_boot],
                        "verdict": _verdict_doc(mr.verdict),
                    }
                    for mr in m.metrics
                },
                **({"profile": m.profile.encode()} if m.profile is not None else {}),
            }
            for m in record.measurements
        ],
    }


# --------------------------------------------------------------------------- from JSON


def _verdict_from(f: Fields) -> RecordedVerdict:
    interval = f.array("interval")
    if len(interval) != 2:
        raise f.fail(f"{f.path('interval')} must hold two numbers (low, high), found {interval!r}")
    low, high = (f.number(v, f"{f.path('interval')}[{i}]") for i, v in enumerate(interval))
    return RecordedVerdict(
        verdict=f.text("verdict"),
        method=f.text("method"),
        change=f.number(f.d.get("change"), f.path("change")),
        interval=(low, high),
        confidence=f.number(f.d.get("confidence"), f.path("confidence")),
        p_value=f.number(f.d.get("p_value"), f.path("p_value")),
        p_adjusted=f.number(f.d.get("p_adjusted"), f.path("p_adjusted")),
        tolerance=f.number(f.d.get("tolerance"), f.path("tolerance")),
    )


def _metric_from(f: Fields, name: str) -> MetricRecord:
    direction_text = f.text("direction")
    try:
        direction = Direction(direction_text)
    except ValueError:
        raise f.fail(f"{f.path('direction')} must be 'lower' or 'higher', found {direction_text!r}") from None
    boots = f.numbers("per_boot")
    verdict = None if f.d.get("verdict") is None else _verdict_from(f.sub("verdict"))
    return MetricRecord(Samples(name, f.text("unit"), boots, direction), verdict)


def _host_from(f: Fields) -> HostFingerprint:
    fields = {k: f.text(k) for k in HostFingerprint().as_dict() if k != "emulated"}
    return HostFingerprint(**fields, emulated=f.flag("emulated"))


def _measurement_from(f: Fields) -> MeasurementRecord:
    metrics_f = f.sub("metrics")
    metrics = tuple(_metric_from(metrics_f.sub(name), name) for name in metrics_f.d)
    return MeasurementRecord(
        test=f.text("test"),
        env=f.text("env"),
        run=f.text("run"),
        workload=f.text("workload"),
        boots=f.whole("boots"),
        reps=f.whole("reps"),
        environment=f.sub("environment").d,
        host=_host_from(f.sub("host")),
        guest_sha256=f.text("guest_sha256"),
        guest_cmdline=f.text("guest_cmdline"),
        metrics=metrics,
        counted=f.flag("counted"),
        emulated=f.flag("emulated"),
        hypervisor=f.text("hypervisor", null=True),
        tsc_khz=f.whole("tsc_khz", null=True),
        profile=_profile_from(f),
    )


def _profile_from(f: Fields) -> FunctionProfile | None:
    if f.d.get("profile") is None:
        return None
    try:
        return FunctionProfile.decode(f.d["profile"], f.path("profile"))
    except ProfileError as exc:
        raise f.fail(str(exc)) from None


def from_document(document: object, source: Path | str = "<document>") -> RunRecord:
    """A record from its JSON-shaped document; :class:`RecordError` names the file and the field that is wrong."""

    def fail(what: str) -> RecordError:
        return RecordError(source, what)

    f = Fields(document, "", fail)
    if f.d.get("schema") != SCHEMA:
        raise f.fail(
            f"not a pytest-hermit history record: schema is {f.d.get('schema')!r}, expected {SCHEMA!r} "
            "(only records belong in the history directory)"
        )
    version = f.d.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise f.fail(
            f"unknown history record version {version!r}; this pytest-hermit reads version(s) "
            f"{', '.join(map(str, READABLE_VERSIONS))}: read it with the pytest-hermit that wrote it, or upgrade"
        )
    date = f.text("date")
    try:
        _parse_date(date)
    except ValueError:
        raise f.fail(f"date must be an ISO 8601 date and time with a time zone, found {date!r}") from None
    measurements = tuple(
        _measurement_from(Fields(m, f"measurements[{i}]", fail)) for i, m in enumerate(f.array("measurements"))
    )
    return RunRecord(
        run_id=f.text("run_id"),
        date=date,
        git_commit=f.text("git_commit", null=True),
        git_branch=f.text("git_branch", null=True),
        git_dirty=f.flag("git_dirty", null=True),
        plugin_version=f.text("plugin_version"),
        baseline=f.text("baseline", null=True),
        measurements=measurements,
    )


def parse(text: str, source: Path | str) -> RunRecord:
    """A record from the text of its file."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(
            source,
            f"corrupt JSON at line {exc.lineno} column {exc.colno}: {exc.msg} "
            "(records are written whole or not at all; this file was changed or cut by something else: "
            "remove it, or move it out of the history directory)",
        ) from None
    return from_document(document, source)
