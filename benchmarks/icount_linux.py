"""How exact is a foreign guest under icount? A Debian Linux kernel measuring HermitCore's basic figures.

The guest is a Linux kernel (``--kernel``, e.g. the Xen lab's cached
Debian kernel) with an initramfs whose init (``fixtures/linux/measure.c``)
times getpid and sched_yield system calls, 1 MiB mallocs and first page
accesses with rdtsc and prints HermitCore's lines. It boots N times in
icount and, interleaved, N times in qemu (TCG timed), through the plugin's
boot path; per metric: the spread of the per-boot medians (max/min - 1) and
their coefficient of variation, and whether every value was identical.

Run from the repository root::

    .venv/bin/python benchmarks/icount_linux.py --kernel /path/to/vmlinuz --boots 10

Results: ``benchmarks/results/icount_linux.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.results.parsers import ConsoleParser  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402
from tests.test_linux_guest import write_initramfs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")


def build_initrd(folder: Path) -> Path:
    init = folder / "init"
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(init), str(ROOT / "fixtures" / "linux" / "measure.c")], check=True
    )
    write_initramfs(init, folder / "initrd.gz")
    return folder / "initrd.gz"


def summary(per_boot: list[list[float]]) -> dict[str, float | bool]:
    medians = [statistics.median(b) for b in per_boot]
    values = [v for b in per_boot for v in b]
    return {
        "median": statistics.median(medians),
        "spread_percent": (max(medians) / min(medians) - 1) * 100,
        "cv_percent": statistics.stdev(medians) / statistics.mean(medians) * 100 if len(medians) > 1 else 0.0,
        "identical": len(set(values)) == 1,
    }


def main() -> None:
    end_on_sigterm()  # a killed study must not leave its VM behind
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", type=Path, required=True)
    parser.add_argument("--boots", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "icount_linux.json")
    args = parser.parse_args()
    state = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"
    conns = Connections(state)
    data: dict[str, dict[str, list[list[float]]]] = {"icount": {}, "qemu": {}}
    with tempfile.TemporaryDirectory(prefix="hermit-linux-") as tmp:
        initrd = build_initrd(Path(tmp))
        for i in range(args.boots):
            for name in ("icount", "qemu"):
                env = BUILTIN[name]
                cmdline = f"console=ttyS0 quiet panic=-1 workload=basic reps={args.reps}"
                spec = DomainSpec(unique_name(env), args.kernel, cmdline, initrd)
                record = boot(
                    conns,
                    env,
                    spec,
                    ConsoleParser("basic", args.reps),
                    timeout=300,
                    transcript=Path(tmp) / f"{name}-{i}.log",
                )
                for metric, (_unit, values) in record.result.metrics.items():
                    data[name].setdefault(metric, []).append(values)
                print(f"boot {i + 1}/{args.boots} {name}: {record.wall_s:.1f} s", flush=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "kernel": str(args.kernel),
        "boots": args.boots,
        "reps": args.reps,
        "loadavg": os.getloadavg(),
        "per_boot": data,
        "summary": {env: {m: summary(v) for m, v in metrics.items()} for env, metrics in data.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| metric | env | median | spread of boots (max/min) | CV of boots | all identical |")
    print("|---|---|---:|---:|---:|---|")
    for metric in METRICS:
        for env in ("icount", "qemu"):
            s = result["summary"][env].get(metric)
            if s:
                print(
                    f"| {metric} | {env} | {s['median']:,.3f} | {s['spread_percent']:.2f}% | "
                    f"{s['cv_percent']:.2f}% | {s['identical']} |"
                )


if __name__ == "__main__":
    main()
