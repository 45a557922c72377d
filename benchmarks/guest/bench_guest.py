"""Reference guest benchmark: plain QEMU per accelerator, host STREAM beside it.

    python3 benchmarks/guest/bench_guest.py [--accel tcg,kvm] [--json FILE]

Per accelerator: wall time from QEMU's start to HERMIT-DONE for
workload=hello (median of 20 boots), the four basic metrics (median over 10
boots of each boot's median of 3 repetitions), STREAM rates (median of 3
boots) next to the same STREAM source built for the host and run right
after each guest boot.  Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))

import guest_qemu as gq  # noqa: E402

HOST_STREAM = HERE / "build" / "stream_host"
BASIC_RE = re.compile(r"^Average time for (getpid|sched_yield|malloc|the first page access): (\d+) cycles")
ROW_RE = re.compile(r"^(Copy|Scale|Add|Triad):\s+(\d+\.\d)\s")
METRICS = ["getpid", "sched_yield", "malloc", "the first page access"]
KERNELS = ["Copy", "Scale", "Add", "Triad"]

# Per accelerator: basic words and STREAM size.  kvm here is kvm_pvm without
# VT-x: every instruction is emulated, so sizes are small there.
SETTINGS = {
    "tcg": {"basic": "iters=1000000 mallocs=64", "stream_n": 10_000_000, "boots_stream": 3},
    "kvm": {"basic": "iters=2000 mallocs=4", "stream_n": 5000, "boots_stream": 3},
}


def boot_ok(cmdline: str, accel: str, timeout: float = 300.0) -> gq.Boot:
    boot = gq.boot(cmdline, accel, timeout=timeout, memory_mib=512)
    if boot.timed_out or not any(line == "HERMIT-DONE status=ok" for line in boot.lines):
        raise RuntimeError(f"{accel} {cmdline!r} failed:\n{boot.text}")
    return boot


def stream_rates(lines: list[str]) -> list[dict[str, float]]:
    tables: list[dict[str, float]] = []
    for line in lines:
        m = ROW_RE.match(line)
        if m:
            if m.group(1) == "Copy":
                tables.append({})
            tables[-1][m.group(1)] = float(m.group(2))
    return tables


def host_stream(n: int) -> dict[str, float]:
    out = subprocess.run([str(HOST_STREAM), str(n), "1"], capture_output=True, text=True, check=True, timeout=600)
    return stream_rates(out.stdout.splitlines())[0]


def bench(accel: str, hello_boots: int, basic_boots: int) -> dict[str, object]:
    s = SETTINGS[accel]
    res: dict[str, object] = {"accel": accel}

    walls, guest_ms = [], []
    for _ in range(hello_boots):
        boot = boot_ok("workload=hello", accel)
        done = boot.time_of("HERMIT-DONE")
        assert done is not None
        walls.append(done)
        for line in boot.lines:
            m = re.search(r"Boot time: (\d+) ms", line)
            if m:
                guest_ms.append(int(m.group(1)))
    res["hello_wall_s"] = statistics.median(walls)
    res["hello_wall_all"] = walls
    res["hello_guest_ms"] = statistics.median(guest_ms)

    per_boot: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(basic_boots):
        boot = boot_ok(f"workload=basic reps=3 {s['basic']}", accel)
        values: dict[str, list[int]] = {m: [] for m in METRICS}
        for line in boot.lines:
            m = BASIC_RE.match(line)
            if m:
                values[m.group(1)].append(int(m.group(2)))
        for metric in METRICS:
            per_boot[metric].append(statistics.median(values[metric]))
    res["basic"] = {m: statistics.median(v) for m, v in per_boot.items()}
    res["basic_boots"] = per_boot

    guest_tables, host_tables = [], []
    for _ in range(int(s["boots_stream"])):
        boot = boot_ok(f"workload=stream stream_n={s['stream_n']}", accel, timeout=900)
        guest_tables += stream_rates(boot.lines)
        host_tables.append(host_stream(int(s["stream_n"])))  # side by side
    res["stream_n"] = s["stream_n"]
    res["stream_guest"] = {k: statistics.median(t[k] for t in guest_tables) for k in KERNELS}
    res["stream_host"] = {k: statistics.median(t[k] for t in host_tables) for k in KERNELS}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accel", default="tcg,kvm")
    ap.add_argument("--hello-boots", type=int, default=20)
    ap.add_argument("--basic-boots", type=int, default=10)
    ap.add_argument("--json", type=Path, default=HERE / "results.json")
    args = ap.parse_args()

    subprocess.run(["make", "-s", "-C", str(HERE.parent.parent / "guest")], check=True)
    subprocess.run(["make", "-s", "-C", str(HERE)], check=True)
    results = []
    for accel in args.accel.split(","):
        if accel == "kvm" and gq.kvm_unusable_reason():
            print(f"skipping kvm: {gq.kvm_unusable_reason()}", file=sys.stderr)
            continue
        t0 = time.monotonic()
        results.append(bench(accel, args.hello_boots, args.basic_boots))
        print(f"{accel}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    args.json.write_text(json.dumps(results, indent=2))
    for r in results:
        print(f"\n### {r['accel']}")
        print(f"hello: wall to HERMIT-DONE median {r['hello_wall_s'] * 1000:.0f} ms, guest {r['hello_guest_ms']} ms")
        for m, v in r["basic"].items():  # type: ignore[attr-defined]
            print(f"{m}: {v:.0f} cycles")
        for k in KERNELS:
            g = r["stream_guest"][k]  # type: ignore[index]
            h = r["stream_host"][k]  # type: ignore[index]
            print(f"{k}: guest {g:.1f} MB/s, host {h:.1f} MB/s, ratio {g / h:.3f} (n={r['stream_n']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
