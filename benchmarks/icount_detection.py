"""icount's detection study: +1% and +2% on every basic metric in one boot, and A/A false alarms.

Boots the reference guest in icount through the plugin's boot path: one
baseline boot, then one boot per (metric, injected slowdown), then N A/A
boots, each judged against the baseline by the gate's own statistics
(``judge_all`` with exactness allowed, as the gate does for counted
metrics, at icount's default 0.5% tolerance). Every boot is one boot of one
repetition, icount's default.

Run from the repository root (about 4 s per boot here)::

    .venv/bin/python benchmarks/icount_detection.py --aa 100

Results: ``benchmarks/results/icount_detection.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.gate import stats  # noqa: E402
from pytest_hermit.results.parsers import ConsoleParser  # noqa: E402
from pytest_hermit.results.samples import Samples  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

KERNEL = ROOT / "guest" / "build" / "refguest.elf"
RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")
TOLERANCE = BUILTIN["icount"].default_tolerance or 0.005


def one_boot(conns: Connections, extra: str, transcript: Path) -> tuple[dict[str, Samples], float]:
    env = BUILTIN["icount"]
    spec = DomainSpec(unique_name(env), KERNEL, f"workload=basic reps=1 {extra}".strip())
    record = boot(conns, env, spec, ConsoleParser("basic", 1), timeout=120, transcript=transcript)
    samples = {m: Samples.of(m, unit, [values]) for m, (unit, values) in record.result.metrics.items()}
    return samples, record.wall_s


def judge(baseline: dict[str, Samples], current: dict[str, Samples]) -> dict[str, dict[str, object]]:
    comparisons = stats.judge_all(
        [(baseline[m], current[m]) for m in METRICS], lambda _s: TOLERANCE, exact_for=lambda _s: True
    )
    return {c.metric: {"verdict": c.verdict.name.lower(), "change": c.change, "method": c.method} for c in comparisons}


def main() -> None:
    end_on_sigterm()  # a killed study must not leave its VM behind
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=100, help="A/A boots judged against the baseline")
    parser.add_argument("--out", type=Path, default=RESULTS / "icount_detection.json")
    args = parser.parse_args()
    state = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"
    conns = Connections(state)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hermit-icount-") as tmp:
        log = Path(tmp) / "boot.log"
        baseline, _ = one_boot(conns, "", log)
        injected = {}
        for metric in METRICS:
            for percent in (1, 2):
                current, _ = one_boot(conns, f"inject={metric}:{percent}", log)
                injected[f"{metric}:{percent}"] = judge(baseline, current)
        aa, walls, loads = [], [], []
        for i in range(args.aa):
            current, wall = one_boot(conns, "", log)
            aa.append(judge(baseline, current))
            walls.append(wall)
            loads.append(os.getloadavg()[0])
            if (i + 1) % 20 == 0:
                print(f"A/A {i + 1}/{args.aa}", flush=True)
    false_alarms = {m: sum(1 for j in aa if j[m]["verdict"] != "unchanged") for m in METRICS}
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "tolerance": TOLERANCE,
        "baseline": {m: baseline[m].values for m in METRICS},
        "injected": injected,
        "aa_boots": args.aa,
        "aa_not_unchanged": false_alarms,
        "aa_distinct_values": {m: len({str(j[m]["change"]) for j in aa}) for m in METRICS},
        "seconds_per_boot_median": sorted(walls)[len(walls) // 2] if walls else None,
        "load_min_max": [min(loads), max(loads)] if loads else None,
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| injected | " + " | ".join(METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for key, verdicts in injected.items():
        cells = [f"{verdicts[m]['verdict']} {verdicts[m]['change'] * 100:+.2f}%" for m in METRICS]
        print(f"| {key}% | " + " | ".join(cells) + " |")
    print(f"\nA/A: {args.aa} boots, not 'unchanged': {false_alarms}; load {result['load_min_max']}")


if __name__ == "__main__":
    main()
