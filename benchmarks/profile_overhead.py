"""--hermit-profile: seconds per boot with and without it, stored size, and the table it gives.

Part 1 (overhead): the basic workload of the reference guest booted through
the plugin's runner (``vm/runner.run``, the path ``hermit_run`` takes) in
icount and qemu, with and without the TCG profiling plugin, interleaved in
rounds (per round and environment: one boot without, one with, in a random
order) so host drift hits both alike. Per boot: the runner's own wall time
of the boot (create to destroy; a profiled boot also waits for the guest to
power off and reads the counts), then symbolization once per run.

Part 2 (tables, icount): one profiled boot of the unchanged guest as the
base, then one per metric with ``inject=METRIC:PERCENT``, and one of a
seeded code change (a copy of guest/ whose getpid() runs a 3-step loop
more); each shown as the per-function table a regression's message carries.

Part 0 (``--direct``): the plugin's own cost, without libvirt: plain
``qemu-system-x86_64`` to the guest's exit, with and without ``-plugin``,
interleaved; wall seconds and QEMU's CPU seconds (user + system, which a
busy host disturbs less than wall time).

Run from the repository root (about 8 minutes here, 2 for ``--direct``)::

    .venv/bin/python benchmarks/profile_overhead.py --rounds 5
    .venv/bin/python benchmarks/profile_overhead.py --direct --rounds 4

Results: ``benchmarks/results/profile_overhead.json`` (``profile_direct.json``)
and Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.profile import diff  # noqa: E402
from pytest_hermit.results.measurement import Measurement  # noqa: E402
from pytest_hermit.vm.boot import BootRecord  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.guest import GuestImage, image_hash  # noqa: E402
from pytest_hermit.vm.profiler import plugin_path, symbols_for, unavailable  # noqa: E402
from pytest_hermit.vm.runner import RunRequest, run  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

KERNEL = ROOT / "guest" / "build" / "refguest.elf"
RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")
SEEDED = ("    inject_point(M_GETPID);\n", "    inject_point(M_GETPID);\n    for (volatile int i = 0; i < 3; i++) {}\n")


def guest(kernel: Path) -> GuestImage:
    return GuestImage(kernel, None, None, "", image_hash(kernel))


def measure(
    conns: Connections, env: str, kernel: Path, profiled: bool, reps: int, tmp: Path, extra: str = ""
) -> tuple[Measurement, float, float]:
    """One boot: the measurement, the boot's own wall seconds, and the whole call's (symbolization included)."""
    walls: list[float] = []

    def progress(_what: str, _i: int, _n: int, record: BootRecord) -> None:
        walls.append(record.wall_s)

    request = RunRequest(
        env=BUILTIN[env],
        guest=guest(kernel),
        workload="basic",
        boots=1,
        reps=reps,
        extra_cmdline=extra,
        timeout=300,
        transcript_dir=tmp,
        profile=symbols_for(kernel, None) if profiled else None,
    )
    started = time.monotonic()
    m = run(conns, request, progress)
    return m, walls[0], time.monotonic() - started


def seeded_kernel(tmp: Path) -> Path:
    """The reference guest with one more line in getpid(), built in a copy of guest/."""
    copy = tmp / "seeded" / "guest"
    shutil.copytree(ROOT / "guest", copy, ignore=shutil.ignore_patterns("build"))
    sched = copy / "common" / "sched.c"
    sched.write_text(sched.read_text().replace(*SEEDED, 1))
    subprocess.run(["make", "-s", "-C", str(copy), "build/refguest.elf"], check=True)
    return copy / "build" / "refguest.elf"


def direct(rounds: int, out: Path) -> None:
    """Part 0: plain QEMU with and without the plugin, wall and CPU seconds to exit, interleaved."""

    base = [
        "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", "qemu64", "-m", "512",
        "-display", "none", "-nodefaults", "-serial", "stdio", "-no-reboot",
        "-bios", "/usr/share/qemu/qboot.rom", "-kernel", str(KERNEL),
    ]  # fmt: skip
    rng = random.Random(19)
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hermit-profile-") as tmp:
        for _ in range(rounds):
            for env, extra, reps in (("icount", ["-icount", "shift=0,sleep=off"], 1), ("qemu", [], 3)):
                order = [False, True]
                rng.shuffle(order)
                for profiled in order:
                    cmd = [*base, *extra, "-append", f"workload=basic reps={reps}"]
                    if profiled:
                        cmd += ["-plugin", f"{plugin_path()},out={tmp}/counts"]
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    started = time.monotonic()
                    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
                    wall = time.monotonic() - started
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                    runs.setdefault(f"{env} {'with' if profiled else 'without'}", []).append({"wall": wall, "cpu": cpu})
    out.write_text(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"), "runs": runs}, indent=1))
    print("| QEMU alone, basic | wall without | wall with | CPU without | CPU with |\n|---|---|---|---|---|")
    for env in ("icount", "qemu"):
        a, b = runs[f"{env} without"], runs[f"{env} with"]
        cells = [statistics.median(r[k] for r in side) for k in ("wall", "cpu") for side in (a, b)]
        print(f"| {env} | " + " | ".join(f"{c:.2f} s" for c in cells) + " |")


def main() -> None:
    end_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--qemu-reps", type=int, default=3, help="repetitions per qemu boot (icount: 1)")
    parser.add_argument("--percent", type=int, default=10, help="injected slowdown per metric")
    parser.add_argument("--out", type=Path, default=RESULTS / "profile_overhead.json")
    parser.add_argument("--direct", action="store_true", help="part 0 only: plain QEMU with and without the plugin")
    args = parser.parse_args()
    if (reason := unavailable()) is not None:
        sys.exit(reason)
    if args.direct:
        direct(args.rounds, RESULTS / "profile_direct.json")
        return
    state = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"
    conns = Connections(state)
    rng = random.Random(19)
    reps = {"icount": 1, "qemu": args.qemu_reps}
    seconds: dict[str, dict[str, list[float]]] = {e: {"without": [], "with": []} for e in reps}
    calls: dict[str, list[float]] = {e: [] for e in reps}
    sizes: list[dict[str, int]] = []
    loads = []
    with tempfile.TemporaryDirectory(prefix="hermit-profile-") as tmp_name:
        tmp = Path(tmp_name)
        for r in range(args.rounds):
            for env in reps:
                order = [False, True]
                rng.shuffle(order)
                for profiled in order:
                    m, wall, whole = measure(conns, env, KERNEL, profiled, reps[env], tmp)
                    seconds[env]["with" if profiled else "without"].append(wall)
                    if profiled and m.profile is not None:
                        calls[env].append(whole)
                        encoded = m.profile.encode()
                        raw = json.dumps(m.profile.as_dict(), separators=(",", ":"))
                        sizes.append({"functions": len(m.profile.functions), "stored": len(encoded), "json": len(raw)})
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}/{args.rounds} done", flush=True)

        base, _, _ = measure(conns, "icount", KERNEL, True, 1, tmp)
        assert base.profile is not None
        tables: dict[str, list[str]] = {}
        changes: dict[str, dict[str, float]] = {}
        cases = [(f"inject={metric}:{args.percent}", KERNEL, f"inject={metric}:{args.percent}") for metric in METRICS]
        cases.append(("seeded: getpid() +1 line (3-step loop)", seeded_kernel(tmp), ""))
        for label, kernel, extra in cases:
            m, _, _ = measure(conns, "icount", kernel, True, 1, tmp, extra)
            assert m.profile is not None
            tables[label] = diff.table(diff.changes(base.profile, m.profile), exact=True, limit=8)
            changes[label] = {metric: m[metric].values[0] / base[metric].values[0] - 1 for metric in METRICS}

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "reps": reps,
        "seconds_per_boot": seconds,
        "profiled_call_seconds": calls,
        "sizes": sizes,
        "load_per_round": loads,
        "tables": tables,
        "metric_changes": changes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n| env | without --hermit-profile | with | with / without |")
    print("|---|---|---|---|")
    for env, s in seconds.items():
        a, b = med(s["without"]), med(s["with"])
        print(f"| {env} (basic, {reps[env]} rep) | {a:.2f} s | {b:.2f} s | {b / a:.2f} |")
    size = sizes[0] if sizes else {}
    print(f"\nstored profile: {size}; load per round {[round(x, 1) for x in loads]}")
    for label, lines in tables.items():
        measured = ", ".join(f"{k} {v * 100:+.1f}%" for k, v in changes[label].items())
        print(f"\n{label} ({measured}):\n```\n" + "\n".join(lines) + "\n```")


if __name__ == "__main__":
    main()
