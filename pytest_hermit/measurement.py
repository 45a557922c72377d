"""What ``hermit_run`` returns: the samples of one workload in one environment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_hermit.samples import Samples


@dataclass(frozen=True)
class Measurement(Mapping[str, Samples]):
    """Samples per metric (``m["getpid"]``), with where and how they were taken.

    ``transcripts`` holds one console transcript per boot. ``emulated`` is
    true when the environment's numbers come from emulation (e.g. /dev/kvm
    without VT-x behind it) and must not be compared with real ones.
    """

    env: str
    workload: str
    samples: dict[str, Samples]
    boots: int
    reps: int
    cmdline: str
    transcripts: tuple[Path, ...] = ()
    hypervisor: str | None = None
    tsc_khz: int | None = None
    emulated: bool = False
    test_id: str = ""

    def __getitem__(self, metric: str) -> Samples:
        try:
            return self.samples[metric]
        except KeyError:
            known = ", ".join(self.samples) or "none"
            raise KeyError(
                f"no metric {metric!r} in the {self.workload} run on {self.env}; measured: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def metrics(self) -> list[str]:
        return list(self.samples)

    def cycles_to_ns(self, cycles: float) -> float | None:
        """Cycles as nanoseconds at the guest's reported TSC frequency."""
        if not self.tsc_khz:
            return None
        return cycles * 1e6 / self.tsc_khz

    def __repr__(self) -> str:
        return f"Measurement(env={self.env!r}, workload={self.workload!r}, metrics={self.metrics}, boots={self.boots})"

    def merged(self, more: Measurement) -> Measurement:
        """This measurement with the boots of ``more`` (same workload and environment) added."""
        if (more.env, more.workload) != (self.env, self.workload):
            raise ValueError(f"cannot merge {more.workload} on {more.env} into {self.workload} on {self.env}")
        samples = dict(self.samples)
        for metric, extra in more.samples.items():
            old = samples.get(metric)
            per_boot = (old.per_boot if old else ()) + extra.per_boot
            samples[metric] = Samples(metric, extra.unit, per_boot, extra.direction)
        return replace(
            self,
            samples=samples,
            boots=self.boots + more.boots,
            transcripts=self.transcripts + more.transcripts,
        )
