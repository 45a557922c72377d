"""Wall time of the example suite serially and under pytest-xdist (-n 1, -n 2), per environment.

Each trial is one ``pytest examples`` process, timed from start to exit (the
workers' start-up, their own embedded libvirt roots and the controller's
writing of the results included). Modes alternate within a round so that
host drift hits all of them alike; the medians over the rounds are
reported side by side, with test_basic's medians in each mode (what parallel
boots do to the numbers). Run from the repository root::

    .venv/bin/python benchmarks/parallel.py --rounds 3

Results: ``benchmarks/results/parallel.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: The same suite in three ways: plain pytest, one xdist worker (the cost of xdist itself), two workers.
MODES = {"serial": ["-p", "no:xdist"], "-n 1": ["-n", "1"], "-n 2": ["-n", "2"]}


def trial(env: str, mode: list[str], report: Path) -> tuple[float, dict[str, float]]:
    """Seconds of one run of the example suite, and test_basic's medians; a run that fails is an error."""
    command = [
        *(sys.executable, "-m", "pytest", "examples", "-p", "no:cacheprovider", "-q"),
        *(f"--hermit-env={env}", f"--hermit-json={report}", *mode),
    ]
    # PYTHONPATH: the workers import this checkout's plugin, not whichever one the venv was installed from.
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, check=False, timeout=1800)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    runs = json.loads(report.read_text())["runs"]
    basic = next(r for r in runs if r["workload"] == "basic")
    return seconds, {name: m["median"] for name, m in basic["metrics"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envs", default="qemu,icount", help="environments, each measured on its own")
    parser.add_argument("--out", type=Path, default=RESULTS / "parallel.json")
    args = parser.parse_args()
    envs = [e for e in args.envs.split(",") if e]
    times: dict[str, dict[str, list[float]]] = {env: {mode: [] for mode in MODES} for env in envs}
    #: What parallel boots do to the numbers: test_basic's medians per run (timed ones move, icount's must not).
    medians: dict[str, dict[str, list[dict[str, float]]]] = {env: {mode: [] for mode in MODES} for env in envs}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hermit-parallel-") as tmp:
        for r in range(args.rounds):
            for env in envs:
                for mode, words in MODES.items():
                    seconds, numbers = trial(env, words, Path(tmp) / "report.json")
                    times[env][mode].append(seconds)
                    medians[env][mode].append(numbers)
                line = ", ".join(f"{m} {v[-1]:.1f} s" for m, v in times[env].items())
                print(f"round {r + 1} {env}: {line}", flush=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "suite": "examples/ (test_basic, test_stream, test_boot), boots and reps as examples/test_study.py plans them",
        "seconds": times,
        "median": {env: {m: round(statistics.median(v), 1) for m, v in by.items()} for env, by in times.items()},
        "test_basic_medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| environment | " + " | ".join(f"{m} (median s)" for m in MODES) + " | all runs |")
    print("|---|" + "---:|" * len(MODES) + "---|")
    for env, by in times.items():
        cells = " | ".join(f"{statistics.median(v):.1f}" for v in by.values())
        runs = "; ".join(f"{m}: {', '.join(f'{x:.1f}' for x in v)}" for m, v in by.items())
        print(f"| {env} | {cells} | {runs} |")
    print("\n| environment | metric | " + " | ".join(MODES) + " |\n|---|---|" + "---:|" * len(MODES))
    for env, by_mode in medians.items():
        for metric in by_mode["serial"][0]:
            cells = " | ".join(f"{statistics.median(r[metric] for r in runs):,.1f}" for runs in by_mode.values())
            print(f"| {env} | {metric} | {cells} |")


if __name__ == "__main__":
    main()
