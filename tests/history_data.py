"""Plain history records for the history tests: made from numbers, with the fields a real run fills in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pytest_hermit.gate.baselines import HostFingerprint
from pytest_hermit.history.records import MeasurementRecord, MetricRecord, RecordedVerdict, RunRecord
from pytest_hermit.results.samples import Samples

HOST = HostFingerprint("AMD EPYC", "6.1.0", "9.0.0", "7.2.0", "TCGTCGTCGTCG", False)
ICOUNT = {
    "name": "icount",
    "domain_type": "qemu",
    "os_type": "hvm",
    "machine": "pc",
    "boot": "kernel",
    "cpu_model": "qemu64",
    "memory_mib": 512,
    "vcpus": 1,
    "icount": True,
}
QEMU = {**ICOUNT, "name": "qemu", "icount": False}
START = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def measurement(
    per_boot: Sequence[Sequence[float]],
    *,
    metric: str = "getpid",
    env: str = "icount",
    test: str = "tests/test_x.py::test_basic[icount]",
    host: HostFingerprint = HOST,
    cmdline: str = "workload=basic reps=1",
    verdict: RecordedVerdict | None = None,
) -> MeasurementRecord:
    return MeasurementRecord(
        test=test,
        env=env,
        run="basic",
        workload="basic",
        boots=len(per_boot),
        reps=max(len(b) for b in per_boot),
        environment=ICOUNT if env == "icount" else QEMU,
        host=host,
        guest_sha256="ab" * 32,
        guest_cmdline=cmdline,
        metrics=(MetricRecord(Samples.of(metric, "cycles", [list(b) for b in per_boot]), verdict),),
        counted=env == "icount",
        hypervisor="TCGTCGTCGTCG",
        tsc_khz=1_000_000,
    )


def record(
    commit: str | None,
    *measurements: MeasurementRecord,
    minutes: int = 0,
    run_id: str | None = None,
    dirty: bool | None = False,
    branch: str | None = "main",
) -> RunRecord:
    return RunRecord(
        run_id=run_id or f"run-{commit}-{minutes}",
        date=(START + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds"),
        git_commit=commit,
        git_branch=branch,
        git_dirty=dirty,
        plugin_version="0.1.0",
        baseline=None,
        measurements=measurements,
    )


def sha(i: int) -> str:
    """A fake full commit id, distinct per i."""
    return f"{i:02x}" * 20
