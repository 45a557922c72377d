"""How close ``inject=METRIC:P`` comes to P, within one boot, under plain QEMU.

The scheme of ``tests/test_guest.py::test_injection_accuracy_within_one_boot``:
``inject_ab=1`` alternates plain and injected repetitions in one boot, so the
drift of a shared host between boots cancels out; a level's reading is the
ratio of the injected to the plain repetitions' medians. Every (metric,
level) gets ``--boots`` boots, levels interleaved boot by boot.

Run from the repository root after ``make -C guest`` (~4 s per boot here)::

    .venv/bin/python benchmarks/injection_accuracy.py --boots 3

Writes ``benchmarks/results/injection_accuracy.json`` and prints a Markdown
table (the range over boots of the ratio minus one, in percent).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import guest_qemu as gq  # noqa: E402

from pytest_hermit.errors import RunError  # noqa: E402
from pytest_hermit.results.parsers import parse_transcript  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")
SIZES = "iters=100000 mallocs=16"


def reading(metric: str, pct: int, reps: int) -> dict[str, float]:
    """Injected over plain medians, per metric, from one inject_ab=1 boot."""
    words = f"workload=basic reps={reps} {SIZES} inject_ab=1 inject={metric}:{pct}"
    boot = gq.boot(words, "tcg", timeout=120)
    if boot.timed_out:
        raise SystemExit(f"boot timed out: {words}")
    try:
        result = parse_transcript(boot.text, "basic", reps)
    except RunError as exc:
        raise SystemExit(f"{words}: {exc}\n{boot.text}") from None
    values = {m: result.metrics[m][1] for m in METRICS}
    return {m: statistics.median(v[1::2]) / statistics.median(v[0::2]) - 1 for m, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3, help="boots per (metric, level)")
    parser.add_argument("--levels", default="2,5,10,30,50", help="injected slowdowns in percent")
    parser.add_argument("--reps", type=int, default=30, help="repetitions per boot (half plain, half injected)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "injection_accuracy.json")
    args = parser.parse_args()
    end_on_sigterm()
    levels = [int(x) for x in args.levels.split(",")]
    readings: dict[str, list[dict[str, float]]] = {f"{m}:{p}": [] for m in METRICS for p in levels}
    started = datetime.now(UTC).isoformat(timespec="seconds")
    for _round in range(args.boots):
        for arm in readings:
            metric, pct = arm.split(":")
            readings[arm].append(reading(metric, int(pct), args.reps))
    doc = {
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_avg": os.getloadavg(),
        "sizes": SIZES,
        "reps": args.reps,
        "readings": readings,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print("| metric | " + " | ".join(f"+{p} %" for p in levels) + " | other metrics, worst |")
    print("|---|" + "---|" * (len(levels) + 1))
    for metric in METRICS:
        cells, others = [], []
        for p in levels:
            got = [r[metric] * 100 for r in readings[f"{metric}:{p}"]]
            cells.append(f"{min(got):+.1f}..{max(got):+.1f}")
            others += [r[o] * 100 for r in readings[f"{metric}:{p}"] for o in METRICS if o != metric]
        worst = max(others, key=abs)
        print(f"| {metric} | " + " | ".join(cells) + f" | {worst:+.1f} |")


if __name__ == "__main__":
    main()
