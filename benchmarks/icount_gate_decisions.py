"""False alarms and boots per decision of the gate under icount, for a guest that is exact and one that is not.

Saves a baseline once, then compares N unchanged runs against it, each a real
``pytest --hermit-env=icount --hermit-compare`` of one test, and reads each
run's JSON report: per metric, the verdict, how it was reached (exact or the
statistics) and the boots it took.

Guests: the reference guest (``basic``, deterministic), and a Debian Linux
kernel with an initramfs whose init measures getpid, sched_yield, malloc and
first page access (``fixtures/linux/measure.c``; not deterministic to the
last instruction).

Run from the repository root::

    .venv/bin/python benchmarks/icount_gate_decisions.py --guest linux --compares 20
    .venv/bin/python benchmarks/icount_gate_decisions.py --guest reference --compares 20

Results: ``benchmarks/results/icount_gate_<guest>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_linux_guest import linux_kernel, write_initramfs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TEST = "def test_basic(hermit_run):\n    hermit_run('basic', reps={reps})\n"


def linux_args(folder: Path) -> list[str]:
    kernel = linux_kernel()
    if kernel is None:
        raise SystemExit("no Linux kernel: install linux-image-cloud-amd64 or set HERMIT_LINUX_KERNEL")
    init = folder / "init"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(init), str(ROOT / "fixtures/linux/measure.c")], check=True)
    write_initramfs(init, folder / "initrd.gz")
    return [f"--hermit-kernel={kernel}", f"--hermit-initrd={folder / 'initrd.gz'}", "--hermit-cmdline=console=ttyS0"]


def one_run(folder: Path, args: list[str]) -> tuple[int, dict[str, object], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hermit-env=icount", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    report = folder / "out.json"
    if proc.returncode not in (0, 1) or not report.exists():
        raise SystemExit(f"pytest exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc.returncode, json.loads(report.read_text()), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--guest", choices=("reference", "linux"), default="linux")
    p.add_argument("--compares", type=int, default=20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--max-boots", type=int, default=0, help="--hermit-max-boots for the compares (0: none)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="hermit-icount-gate-") as tmp:
        folder = Path(tmp)
        (folder / "test_gate.py").write_text(TEST.format(reps=a.reps))
        common = [f"--hermit-baseline-dir={folder / 'baselines'}", "--hermit-json=out.json", "--hermit-timeout=600"]
        if a.guest == "linux":
            common += linux_args(folder)
        status, _, save_s = one_run(folder, [*common, "--hermit-save=main"])
        if status != 0:
            raise SystemExit("saving the baseline failed")
        verdicts: Counter[tuple[str, str, str]] = Counter()
        boots: list[int] = []
        seconds: list[float] = []
        failed = 0
        extra = [f"--hermit-max-boots={a.max_boots}"] if a.max_boots else []
        for i in range(a.compares):
            status, report, took = one_run(folder, [*common, *extra, "--hermit-compare=main"])
            failed += status != 0
            seconds.append(took)
            for run in report["runs"]:  # type: ignore[union-attr]
                boots.append(run["boots"])
                for name, metric in run["metrics"].items():
                    c = metric["comparison"]
                    verdicts[(name, c["method"], c["verdict"])] += 1
            print(f"compare {i + 1}/{a.compares}: exit {status}, {took:.1f} s", file=sys.stderr)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "guest": a.guest,
        "reps": a.reps,
        "max_boots": a.max_boots,
        "compares": a.compares,
        "false_alarms": failed,
        "boots_per_decision": boots,
        "seconds_per_compare": seconds,
        "save_seconds": save_s,
        "verdicts": [{"metric": m, "method": k, "verdict": v, "count": n} for (m, k, v), n in sorted(verdicts.items())],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"icount_gate_{a.guest}.json").write_text(json.dumps(result, indent=1) + "\n")
    print("| guest | compares | false alarms | boots per decision | median s per compare |")
    print("|---|---|---|---|---|")
    med = sorted(seconds)[len(seconds) // 2]
    print(f"| {a.guest} | {a.compares} | {failed} | {min(boots)}..{max(boots)} | {med:.1f} |")
    print()
    print("| metric | method | verdict | count |")
    print("|---|---|---|---|")
    for (m, k, v), n in sorted(verdicts.items()):
        print(f"| {m} | {k} | {v} | {n} |")


if __name__ == "__main__":
    main()
