"""Default against strict mode (docs/statistics.md, "What the tolerance controls").

Seeded synthetic boots x repetitions, the model of simulate.py: value = 9 *
factor * exp(boot effect + repetition effect), both normal on the log scale,
boot CV 3 % (a quiet host) or 20 % (TCG on the shared CI host), repetition
CV 10 %, 10 repetitions, tolerance 5 %, confidence 0.95, one metric per
family, 1000 bootstrap resamples. Both modes judge the same draws.

1. The rate of "regression" at true changes 0, +2.5, +4, +5, +6 and +10 %.
2. Boots a side for 80 % power at +10 %: bisection over the boot count,
   300 comparisons per probe (the rate at the answer is >= 0.80 on those
   draws; neighbouring counts differ by Monte Carlo noise of about 2.3 points).

Run: /work/main/.venv/bin/python benchmarks/statistics/strict.py   (several minutes)
Writes strict.json beside this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from pytest_hermit.gate.stats import compare
from pytest_hermit.results.samples import Samples

REPS = 10
CHANGES = (0.0, 0.025, 0.04, 0.05, 0.06, 0.10)
SIZES = {0.03: (10, 40), 0.20: (40, 100)}
RUNS = 300


def draw(rng: np.random.Generator, boots: int, factor: float, cv_boot: float) -> Samples:
    values = 9.0 * factor * np.exp(rng.normal(0, cv_boot, size=boots)[:, None] + rng.normal(0, 0.1, size=(boots, REPS)))
    return Samples.of("getpid", "cycles", values.tolist())


def rates(boots: int, cv: float, change: float, runs: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    hits = {"default": 0, "strict": 0}
    for i in range(runs):
        a, b = draw(rng, boots, 1.0, cv), draw(rng, boots, 1.0 + change, cv)
        for mode in hits:
            hits[mode] += compare(a, b, 0.05, n_resamples=1000, seed=i, strict=mode == "strict").failed
    return {mode: k / runs for mode, k in hits.items()}


def boots_for_power(cv: float, strict: bool, seed: int) -> tuple[int, float]:
    """Smallest boot count (bisection) whose regression rate at +10 % is >= 0.8."""
    mode = "strict" if strict else "default"
    low, high = 2, 2000
    found: dict[int, float] = {}
    while high - low > max(1, low // 20):  # to within 5 %
        mid = (low + high) // 2
        found[mid] = rates(mid, cv, 0.10, RUNS, seed + mid)[mode]
        if found[mid] >= 0.8:
            high = mid
        else:
            low = mid
    if high not in found:
        found[high] = rates(high, cv, 0.10, RUNS, seed + high)[mode]
    return high, found[high]


def main() -> int:
    out: dict[str, object] = {"reps": REPS, "rep_cv": 0.1, "tolerance": 0.05, "runs": RUNS, "rates": [], "power": []}
    seed = 500
    for cv, sizes in SIZES.items():
        for boots in sizes:
            for change in CHANGES:
                seed += 1
                r = rates(boots, cv, change, RUNS, seed)
                row = {"boot_cv": cv, "boots": boots, "change": change, "seed": seed, **r}
                out["rates"].append(row)  # type: ignore[attr-defined]
                print(json.dumps(row), flush=True)
    for cv in SIZES:
        for strict in (False, True):
            n, rate = boots_for_power(cv, strict, 9000)
            row = {"boot_cv": cv, "mode": "strict" if strict else "default", "boots": n, "rate": rate}
            out["power"].append(row)  # type: ignore[attr-defined]
            print(json.dumps(row), flush=True)
    Path(__file__).with_name("strict.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
