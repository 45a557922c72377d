"""What ``hermit_run`` returns: the samples of one workload in one environment.

Each ``hermit_run`` call has an identity within its test (``run``): the
workload plus the test's own command line words (``basic``, ``stream
stream_n=2000000``), and `` #2``, `` #3``... only for a later call that would
otherwise be identical. Baseline entries, verdicts, report and table rows are
keyed by it, so several calls in one test do not overwrite each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_hermit.profile.profile import FunctionProfile
from pytest_hermit.results.samples import Samples

#: Command line keys that stand for a change of the code under test (``inject=``
#: slows a workload down on purpose): they are not part of a run's identity, so
#: a run with them is compared with the same run without them.
CODE_CHANGE_KEYS = frozenset({"inject"})


def run_identity(workload: str, extra_cmdline: str = "") -> str:
    """The identity of a ``hermit_run(workload, cmdline=extra_cmdline)`` call (first of its kind)."""
    words = [w for w in extra_cmdline.split() if w.partition("=")[0] not in CODE_CHANGE_KEYS]
    return " ".join([workload, *words])


def identity_from_cmdline(cmdline: str) -> str:
    """The identity a guest command line implies: what baseline files without one (version 1) get.

    The plugin builds ``[--hermit-cmdline words] workload=W reps=R [the test's
    words]``, so W and the words after ``reps=`` are the call's workload and
    words. "" when the line was not built that way.
    """
    words = cmdline.split()
    ours = [i for i in range(len(words) - 1) if words[i].startswith("workload=") and words[i + 1].startswith("reps=")]
    if not ours:
        return ""
    i = ours[-1]
    return run_identity(words[i].partition("=")[2], " ".join(words[i + 2 :]))


class RunIds:
    """Hands out the identities of one test's ``hermit_run`` calls, in call order."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def next(self, workload: str, extra_cmdline: str = "") -> str:
        base = run_identity(workload, extra_cmdline)
        n = self._seen[base] = self._seen.get(base, 0) + 1
        return base if n == 1 else f"{base} #{n}"


#: The host's own boot time: from resuming the VM to the guest's first line.
HOST_BOOT_TIME = "boot_time_host"
#: Metrics the host measures, not the guest: never exact, even where the guest's own numbers are.
HOST_MEASURED = frozenset({HOST_BOOT_TIME})


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
    #: The environment counts instructions (icount): "cycles" are instructions, not time.
    counted: bool = False
    test_id: str = ""
    #: The call's identity within its test (see the module docstring); the workload when not given.
    run: str = ""
    #: What the guest warned about in its kernel log (e.g. it shrank a size that did not fit), once
    #: per text, each with the boot and console line where it first appeared.
    guest_warnings: tuple[str, ...] = ()
    #: The guest profile that booted (``results/profiles.py``) and the sha256 of its image:
    #: a test's marker may choose another guest than the session's.
    guest: str = ""
    guest_sha256: str = ""
    #: --hermit-profile: the guest's instructions per function, summed over the boots.
    profile: FunctionProfile | None = None

    def __post_init__(self) -> None:
        if not self.run:
            object.__setattr__(self, "run", self.workload)

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
        """Cycles as nanoseconds at the guest's reported TSC frequency (None when they are counted instructions)."""
        if not self.tsc_khz or self.counted:
            return None
        return cycles * 1e6 / self.tsc_khz

    def __repr__(self) -> str:
        return f"Measurement(env={self.env!r}, run={self.run!r}, metrics={self.metrics}, boots={self.boots})"

    def merged(self, more: Measurement) -> Measurement:
        """This measurement with the boots of ``more`` (same workload and environment) added."""
        if (more.env, more.workload, more.run) != (self.env, self.workload, self.run):
            raise ValueError(f"cannot merge {more.run} on {more.env} into {self.run} on {self.env}")
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
            profile=self.profile.merged(more.profile) if self.profile and more.profile else self.profile,
        )
