"""The measured data of one workload in one environment: boots x repetitions.

Plain, immutable data shared by the parser, the statistics, the baselines and
the reports. Boots are kept apart because boot-to-boot variance is real and
usually larger than the variance between repetitions inside one boot.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import Enum


class Direction(Enum):
    """Which way is better for a metric: decides the sign of a change."""

    LOWER_IS_BETTER = "lower"
    HIGHER_IS_BETTER = "higher"


#: Units whose metrics get better when the number grows; everything else
#: (cycles, ms, s, ns) is a cost.
_HIGHER_IS_BETTER_UNITS = frozenset({"MB/s", "GB/s", "ops/s", "Mbit/s", "Gbit/s", "1/s"})


def direction_of(unit: str) -> Direction:
    """The direction implied by a unit (throughput up, costs down)."""
    if unit in _HIGHER_IS_BETTER_UNITS or unit.endswith("/s"):
        return Direction.HIGHER_IS_BETTER
    return Direction.LOWER_IS_BETTER


@dataclass(frozen=True)
class Samples:
    """Values of one metric: ``per_boot[b][r]`` is repetition r of boot b."""

    metric: str
    unit: str
    per_boot: tuple[tuple[float, ...], ...]
    direction: Direction = field(default=Direction.LOWER_IS_BETTER)

    @classmethod
    def of(
        cls,
        metric: str,
        unit: str,
        per_boot: list[list[float]] | tuple[tuple[float, ...], ...],
        direction: Direction | None = None,
    ) -> Samples:
        """Build samples; the direction, unless given (a guest profile's ``better``), follows from the unit."""
        per = tuple(tuple(float(v) for v in boot) for boot in per_boot)
        return cls(metric, unit, per, direction if direction is not None else direction_of(unit))

    @property
    def values(self) -> list[float]:
        """All values, boot after boot."""
        return [v for boot in self.per_boot for v in boot]

    @property
    def boot_medians(self) -> list[float]:
        """One summary per boot: the unit of evidence for the statistics."""
        return [statistics.median(boot) for boot in self.per_boot if boot]

    @property
    def median(self) -> float:
        """Median of all values."""
        return statistics.median(self.values)

    @property
    def boots(self) -> int:
        return len(self.per_boot)

    @property
    def reps(self) -> int:
        """Repetitions of the fullest boot (boots may differ when a metric is optional)."""
        return max((len(b) for b in self.per_boot), default=0)
