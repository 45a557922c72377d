"""Which paired analysis holds on real boots?  (docs/statistics.md, "Paired A/B runs")

The simulation (paired_choice.py) favoured a 20 % trimmed mean of the
per-pair log ratios with a Tukey-McLaughlin interval and a Wilcoxon test. On
real boots (paired_boots_data/, getpid, 40 pairs per run) two things it did
not model broke that: boot medians are whole cycles, so on a quiet host most
log ratios tie (33 of 40 in aa2 and ab5b) and the winsorized variance
collapses; and the Wilcoxon signed-rank test cannot go below p = 2 / 2^n, so
in a family of 4 (Holm: p < 0.0125) it needs 8 pairs.

For draws of k pairs (without replacement, 600 per cell, seed 1) this
compares the trimmed mean + Tukey-McLaughlin interval ("tm") with the mean +
Student's t interval ("t"), both at 98.75 % (a family of 4): coverage of the
same estimator on all 40 pairs (optimistic, the draws overlap it), median
width (log scale), and the rate of "regression" (interval above 0, point
above +5 %) with the Wilcoxon test or the t-test at p < 0.0125.

Run: /work/main/.venv/bin/python benchmarks/statistics/paired_variants.py   (seconds)
Writes paired_variants.json beside this file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).parent
RUNS = ("aa2", "ab5b", "ab10", "aa", "ab", "ab20")
LEVEL = 1 - 0.05 / 4
DRAWS = 600


def log_ratios(name: str) -> np.ndarray:
    doc = json.loads((HERE / "paired_boots_data" / f"{name}.json").read_text())
    m = doc["runs"][0]["metrics"]["getpid"]
    a = np.log([np.median(b) for b in m["a"]])
    b = np.log([np.median(x) for x in m["b"]])
    return np.asarray(b - a)


def tukey_mclaughlin(d: np.ndarray) -> tuple[float, float, float]:
    n = len(d)
    k = int(0.2 * n)
    s = np.sort(d)
    h = n - 2 * k
    se = float(np.std(np.clip(s, s[k], s[n - k - 1]), ddof=1)) / ((h / n) * math.sqrt(n))
    q = float(stats.t.isf((1 - LEVEL) / 2, h - 1))
    m = float(s[k : n - k].mean())
    return m, m - q * se, m + q * se


def student(d: np.ndarray) -> tuple[float, float, float]:
    n = len(d)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    q = float(stats.t.isf((1 - LEVEL) / 2, n - 1))
    m = float(d.mean())
    return m, m - q * se, m + q * se


def main() -> int:
    rng = np.random.default_rng(1)
    rows = []
    for name in RUNS:
        d = log_ratios(name)
        ties = len(d) - len(np.unique(d))
        full = {"tm": tukey_mclaughlin(d)[0], "t": student(d)[0]}
        for k in (6, 10, 20):
            acc = {v: {"covered": 0, "regression_wilcoxon": 0, "regression_t": 0, "widths": []} for v in full}
            for _ in range(DRAWS):
                x = d[rng.choice(len(d), k, replace=False)]
                pw = float(stats.wilcoxon(x, zero_method="pratt").pvalue) if np.any(x) else 1.0
                pt = float(stats.ttest_1samp(x, 0.0).pvalue) if np.std(x) > 0 else 1.0
                for v, f in (("tm", tukey_mclaughlin), ("t", student)):
                    m, lo, hi = f(x)
                    a = acc[v]
                    a["covered"] += lo <= full[v] <= hi  # type: ignore[operator]
                    real = lo > 0 and m > math.log(1.05)
                    a["regression_wilcoxon"] += real and pw < 0.0125  # type: ignore[operator]
                    a["regression_t"] += real and pt < 0.0125  # type: ignore[operator]
                    a["widths"].append(hi - lo)  # type: ignore[union-attr]
            row: dict[str, object] = {"run": name, "pairs": k, "tied_log_ratios_of_40": ties}
            for v, a in acc.items():
                row[f"{v}_coverage"] = a["covered"] / DRAWS  # type: ignore[operator]
                row[f"{v}_regression_wilcoxon"] = a["regression_wilcoxon"] / DRAWS  # type: ignore[operator]
                row[f"{v}_regression_t"] = a["regression_t"] / DRAWS  # type: ignore[operator]
                row[f"{v}_median_width"] = float(np.median(a["widths"]))  # type: ignore[arg-type]
            rows.append(row)
            print(json.dumps(row), flush=True)
    doc = {"level": LEVEL, "draws": DRAWS, "seed": 1, "rows": rows}
    (HERE / "paired_variants.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
