"""The table of docs/statistics.md, "What the simulations show": our rule against
pytest-benchmark's ``mean:5%`` on seeded synthetic boots x repetitions.

Model: value = base * factor * exp(boot effect + repetition effect), both
normal on the log scale (boot CV as given, repetition CV 10%), one metric
per comparison, tolerance 5%, confidence 0.95, 1000 bootstrap resamples.
Run: .venv/bin/python benchmarks/statistics/simulate.py  (a few minutes).
"""

from __future__ import annotations

import statistics
import sys

import numpy as np

from pytest_hermit.gate.stats import Verdict, compare
from pytest_hermit.results.samples import Samples

ROWS = [  # boots, reps, boot CV, true change, comparisons, seed
    (10, 20, 0.20, 0.00, 1000, 201),
    (10, 20, 0.20, 0.05, 300, 202),
    (10, 20, 0.20, 0.10, 300, 203),
    (10, 20, 0.20, 0.30, 300, 204),
    (40, 10, 0.20, 0.00, 300, 205),
    (40, 10, 0.20, 0.10, 300, 206),
    (100, 10, 0.20, 0.00, 200, 207),
    (100, 10, 0.20, 0.05, 200, 208),
    (100, 10, 0.20, 0.10, 200, 209),
    (10, 20, 0.03, 0.00, 300, 210),
    (10, 20, 0.03, 0.05, 300, 211),
    (10, 20, 0.03, 0.10, 300, 212),
]


def draw(rng: np.random.Generator, boots: int, reps: int, factor: float, cv_boot: float) -> Samples:
    values = 9.0 * factor * np.exp(rng.normal(0, cv_boot, size=boots)[:, None] + rng.normal(0, 0.1, size=(boots, reps)))
    return Samples.of("getpid", "cycles", values.tolist())


def row(boots: int, reps: int, cv: float, change: float, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(Verdict, 0)
    covered = mean_fails = 0
    for i in range(n):
        a = draw(rng, boots, reps, 1.0, cv)
        b = draw(rng, boots, reps, 1.0 + change, cv)
        c = compare(a, b, 0.05, n_resamples=1000, seed=i)
        counts[c.verdict] += 1
        covered += c.interval.contains(change)
        mean_fails += statistics.fmean(b.values) > 1.05 * statistics.fmean(a.values)

    def pct(k: int) -> str:
        return f"{100 * k / n:.1f}%"

    cells = [f"{boots}x{reps}", f"{cv:.0%}", f"+{change:.0%}", str(n), str(seed)]
    cells += [pct(counts[v]) for v in (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.UNCHANGED)]
    cells += [pct(covered), pct(mean_fails)]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    print(
        "| boots x reps | boot CV | true change | comparisons | seed | regression | improvement | unchanged "
        "| CI coverage | mean:5% fails |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in ROWS:
        print(row(*spec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
