"""Paired against unpaired analysis of A/B runs, on real interleaved boots.

docs/statistics.md, "Paired A/B runs". Two steps:

collect (3-4 minutes per run on qemu TCG; already done, raw data in
paired_boots_data/): six A/B runs through the plugin (see RUNS), 40 pairs x
5 repetitions of the basic workload, image B = the reference guest with
``inject=getpid:N`` or nothing (A/A)::

    HERMIT_AB_DUMP=ab.json python -m pytest benchmarks/statistics/ab_boots/test_ab_boots.py \\
        -p no:cacheprovider -q --hermit-env=qemu --hermit-ab=guest/build/refguest.elf \\
        --hermit-ab-cmdline=inject=getpid:5 --hermit-boots=40 --hermit-reps=5 --hermit-ab-seed=11

The plugin's JSON report holds only image B; ab_boots/conftest.py dumps both
sides and the boot order (recomputed from the seed as call.py draws it, and
checked here against the progress lines kept in ``*.progress.txt``).

analyse: draw ``k`` of the 40 pairs without replacement, many times; judge
the four metrics of each draw as one family (as the gate does) both paired
(boot i of A with boot i of B) and unpaired (the same boots as two
independent samples), on the same draws. Reports the rate of "getpid
regressed", the rate of a regression or improvement on any other metric
(false alarms, except where B really changed them), the median width of
getpid's interval (log scale), and how often getpid's interval covers the
change measured on all 40 pairs by the same method (for A/A, 0; overlapping
draws make this optimistic, so read it only as a warning sign). Draws of 20 or 30 from 40 overlap heavily: their rates
are less certain than the draw count suggests.

Run: PYTHONPATH=. /work/main/.venv/bin/python benchmarks/statistics/paired_boots.py
Writes paired_boots.json beside this file.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
from pathlib import Path

import numpy as np

from pytest_hermit.gate.stats import Verdict, judge_all
from pytest_hermit.results.samples import Samples

HERE = Path(__file__).parent
DATA = HERE / "paired_boots_data"
#: Loaded host (20:23-20:35 UTC, boot CV 25-40 %): aa, ab, ab20; quiet host
#: (20:44-21:00 UTC, boot CV 1-3 %): ab10, aa2, ab5b.
RUNS = {
    "aa": "loaded: A/A (same image), seed 12",
    "ab": "loaded: inject=getpid:5, seed 11",
    "ab20": "loaded: inject=getpid:20, seed 13",
    "aa2": "quiet: A/A (same image), seed 15",
    "ab5b": "quiet: inject=getpid:5, seed 16",
    "ab10": "quiet: inject=getpid:10, seed 14",
}
SIZES = (6, 10, 20)
DRAWS = 600
SEED = 7


def load(name: str) -> tuple[dict[str, tuple[Samples, Samples]], list[str]]:
    doc = json.loads((DATA / f"{name}.json").read_text())
    run = doc["runs"][0]
    progress = [
        re.match(r"hermit: (A|B) qemu basic boot (\d+)/", line) for line in (DATA / f"{name}.progress.txt").open()
    ]
    seen = [m[1] for m in progress if m]
    assert ["".join(seen[i : i + 2]) for i in range(0, len(seen), 2)] == run["order"], "boot order differs"
    metrics = {
        metric: (Samples.of(metric, v["unit"], v["a"]), Samples.of(metric, v["unit"], v["b"]))
        for metric, v in run["metrics"].items()
    }
    return metrics, run["order"]


def subset(s: Samples, idx: np.ndarray) -> Samples:
    return Samples(s.metric, s.unit, tuple(s.per_boot[i] for i in idx), s.direction)


def noise(metrics: dict[str, tuple[Samples, Samples]]) -> dict[str, dict[str, float]]:
    out = {}
    for metric, (a, b) in metrics.items():
        la, lb = np.log(a.boot_medians), np.log(b.boot_medians)
        out[metric] = {
            "sd_log_a": float(np.std(la, ddof=1)),
            "sd_log_b": float(np.std(lb, ddof=1)),
            "corr_in_pairs": float(np.corrcoef(la, lb)[0, 1]),
            "sd_log_ratio_pairs": float(np.std(lb - la, ddof=1)),
            "sd_log_ratio_unpaired": math.sqrt(float(np.var(la, ddof=1)) + float(np.var(lb, ddof=1))),
        }
    return out


def study(name: str, k: int, rng: np.random.Generator, truth: dict[str, float]) -> dict[str, object]:
    metrics, _ = load(name)
    names = list(metrics)
    n = metrics[names[0]][0].boots
    counts = {
        mode: {"getpid_regressed": 0, "other_alarm": 0, "any_alarm": 0, "getpid_covered": 0}
        for mode in ("paired", "unpaired")
    }
    widths: dict[str, list[float]] = {"paired": [], "unpaired": []}
    for i in range(DRAWS):
        idx = np.sort(rng.choice(n, size=k, replace=False))
        pairs = [(subset(metrics[m][0], idx), subset(metrics[m][1], idx)) for m in names]
        for mode in ("paired", "unpaired"):
            cs = judge_all(pairs, lambda _s: 0.05, paired=mode == "paired", n_resamples=1000, seed=i)
            by = {c.metric: c for c in cs}
            alarms = {c.metric for c in cs if c.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT)}
            counts[mode]["getpid_regressed"] += by["getpid"].verdict is Verdict.REGRESSION
            counts[mode]["other_alarm"] += bool(alarms - {"getpid"})
            counts[mode]["any_alarm"] += bool(alarms)
            counts[mode]["getpid_covered"] += by["getpid"].interval.contains(truth[mode])
            widths[mode].append(math.log1p(by["getpid"].interval.high) - math.log1p(by["getpid"].interval.low))
    return {
        "run": name,
        "pairs": k,
        "draws": DRAWS,
        **{f"{mode}_{key}": v / DRAWS for mode, c in counts.items() for key, v in c.items()},
        "paired_getpid_width": statistics.median(widths["paired"]),
        "unpaired_getpid_width": statistics.median(widths["unpaired"]),
    }


def main() -> int:
    rng = np.random.default_rng(SEED)
    out: dict[str, object] = {"seed": SEED, "draws": DRAWS, "tolerance": 0.05, "runs": RUNS, "noise": {}, "rows": []}
    for name in RUNS:
        metrics, order = load(name)
        judged = {
            mode: judge_all(list(metrics.values()), lambda _s: 0.05, paired=mode == "paired")
            for mode in ("paired", "unpaired")
        }
        full = {
            mode: {c.metric: [c.verdict.name.lower(), round(c.change, 4)] for c in cs} for mode, cs in judged.items()
        }
        truth = {
            mode: 0.0 if name == "aa" else next(c.change for c in cs if c.metric == "getpid")
            for mode, cs in judged.items()
        }
        out["noise"][name] = {"order": "".join(order), "all_40_pairs": full, **noise(metrics)}  # type: ignore[index]
        print(name, json.dumps(out["noise"][name]), flush=True)  # type: ignore[index]
        for k in SIZES:
            row = study(name, k, rng, truth)
            out["rows"].append(row)  # type: ignore[attr-defined]
            print(json.dumps(row), flush=True)
    (HERE / "paired_boots.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
