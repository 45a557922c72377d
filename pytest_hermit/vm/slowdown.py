"""How much slower an emulating KVM runs guest code than QEMU's TCG, measured by the guest itself.

On a host whose /dev/kvm has no VT-x/AMD-V behind it, KVM runs every guest
instruction through its emulator. A boot timeout sized for real hardware
(or TCG) then ends a healthy boot as "timed out". When the user asks for
kvm there anyway, its default boot timeout is scaled by this factor.

The measure: one tiny boot of the reference guest's basic workload in each
environment (``iters=`` and ``mallocs=`` cut to a few thousand operations,
about a second each), and the ratio of the cycles per getpid each reports.
The guest's TSC runs at the host's rate in both, so cycles per operation
are time per operation: their ratio is the slowdown of the code path the
workloads run, not of QEMU's start-up.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_hermit.errors import HermitError
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment
from pytest_hermit.vm.guest import GuestImage
from pytest_hermit.vm.runner import RunRequest, run

#: The calibration's command line: small enough for about a second under KVM's emulator.
CALIBRATION_WORDS = "iters=200 mallocs=1"
#: The metric whose cycles per operation are compared (a plain call: pure instruction cost).
CALIBRATION_METRIC = "getpid"


@dataclass(frozen=True)
class Slowdown:
    """The measured factor, or why there is none."""

    factor: float | None
    reason: str = ""

    def scaled(self, timeout: float) -> float:
        return timeout * self.factor if self.factor and self.factor > 1 else timeout


def factor_of(emulated_cycles: float, tcg_cycles: float) -> float:
    """The slowdown from two cycle counts per operation (never below 1: a timeout only grows)."""
    if emulated_cycles <= 0 or tcg_cycles <= 0:
        raise ValueError(f"cycles per operation must be positive, got {emulated_cycles} and {tcg_cycles}")
    return max(1.0, emulated_cycles / tcg_cycles)


def measure(conns: Connections, kvm: Environment, tcg: Environment, guest: GuestImage) -> Slowdown:
    """Boot the reference guest once in ``kvm`` and once in ``tcg`` and compare its getpid cost."""
    cycles: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hermit-slowdown-") as folder:
        for env in (tcg, kvm):
            request = RunRequest(
                env=env,
                guest=replace(guest, cmdline=""),
                workload="basic",
                boots=1,
                reps=1,
                extra_cmdline=CALIBRATION_WORDS,
                timeout=300,
                transcript_dir=Path(folder),
                emulated=env is kvm,
                test_id="hermit-slowdown",
            )
            try:
                measured = run(conns, request)
            except HermitError as exc:
                first = str(exc).strip().splitlines()[0]
                return Slowdown(None, f"the calibration boot on {env.name} failed: {first}")
            cycles[env.name] = measured[CALIBRATION_METRIC].median
    return Slowdown(factor_of(cycles[kvm.name], cycles[tcg.name]))
