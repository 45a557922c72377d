"""Which estimator and interval for paired A/B boots?  (docs/statistics.md, "Paired A/B runs")

Synthetic pairs on the log scale: log ratio of pair i = shift + (own_B - own_A)
+ repetition noise of the two boot medians, where the common drift of the pair
(host load at that moment) cancels; a disturbed boot (x3) falls on one arm of
a pair with the given probability.  Compared:

* the estimator's spread (sd of the point log ratio) for the mean, the 20 %
  trimmed mean and the median of the per-pair log ratios;
* the coverage of the true shift by three intervals at 95 % and 98.75 % (the
  level for a family of 4): t on the mean, Tukey-McLaughlin t on the 20 %
  trimmed mean (winsorized variance, n - 2k - 1 df), and the percentile
  bootstrap of the trimmed mean over pairs (2000 resamples).

Run: /work/main/.venv/bin/python benchmarks/statistics/paired_choice.py  (about a minute)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

TRIM = 0.2
REPS = 5
SD_OWN = 0.20  # boot-to-boot noise that pairing does not remove (log sd)
SD_REP = 0.10


def log_ratios(rng: np.random.Generator, n: int, shift: float, outliers: float) -> np.ndarray:
    own = rng.normal(0, SD_OWN, size=(2, n))
    reps = rng.normal(0, SD_REP, size=(2, n, REPS))
    medians = own + np.median(reps, axis=-1)
    hit = rng.random(size=(2, n)) < outliers
    medians = medians + hit * math.log(3)
    return shift + medians[1] - medians[0]


def trimmed(d: np.ndarray) -> float:
    s = np.sort(d)
    k = int(TRIM * len(s))
    return float(s[k : len(s) - k].mean())


def tm_interval(d: np.ndarray, level: float) -> tuple[float, float]:
    n = len(d)
    k = int(TRIM * n)
    s = np.sort(d)
    w = np.clip(s, s[k], s[n - k - 1])
    h = n - 2 * k
    se = float(np.std(w, ddof=1)) / ((h / n) * math.sqrt(n))
    q = float(stats.t.isf((1 - level) / 2, h - 1))
    m = trimmed(d)
    return m - q * se, m + q * se


def t_interval(d: np.ndarray, level: float) -> tuple[float, float]:
    n = len(d)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    q = float(stats.t.isf((1 - level) / 2, n - 1))
    m = float(d.mean())
    return m - q * se, m + q * se


def boot_interval(d: np.ndarray, level: float, rng: np.random.Generator) -> tuple[float, float]:
    n = len(d)
    drawn = np.sort(d[rng.integers(0, n, size=(2000, n))], axis=-1)
    k = int(TRIM * n)
    reps = drawn[:, k : n - k].mean(axis=-1)
    a = (1 - level) / 2
    return float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))


def main() -> int:
    rng = np.random.default_rng(31)
    rows = []
    for outliers in (0.0, 0.05, 0.10):
        for n in (5, 10, 20, 40):
            runs = 2000
            est = {"mean": [], "trimmed": [], "median": []}
            cover = {(m, lv): 0 for m in ("t", "tukey-mclaughlin", "bootstrap") for lv in (0.95, 0.9875)}
            for _ in range(runs):
                d = log_ratios(rng, n, 0.05, outliers)
                est["mean"].append(float(d.mean()))
                est["trimmed"].append(trimmed(d))
                est["median"].append(float(np.median(d)))
                for lv in (0.95, 0.9875):
                    for name, (lo, hi) in (
                        ("t", t_interval(d, lv)),
                        ("tukey-mclaughlin", tm_interval(d, lv)),
                        ("bootstrap", boot_interval(d, lv, rng)),
                    ):
                        cover[(name, lv)] += lo <= 0.05 <= hi
            row = {
                "outlier_boots": outliers,
                "pairs": n,
                "runs": runs,
                "sd": {k: float(np.std(v)) for k, v in est.items()},
                "coverage": {f"{m} {lv}": c / runs for (m, lv), c in cover.items()},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = Path(__file__).with_name("paired_choice.json")
    out.write_text(json.dumps({"seed": 31, "sd_own": SD_OWN, "sd_rep": SD_REP, "reps": REPS, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
