"""Guests nobody here wrote, per environment: their figures, whether icount repeats them, seconds per boot.

memtest86+ (its bandwidth figures, read from its screen mirror) and
Debian's cloud kernel (the MB/s raid6_pq and xor print when loaded at a
busybox prompt), each booted through the plugin's boot path with the guest
profile of its example project (examples/memtest86, examples/debian-kernel),
N times in icount and, interleaved, N times in qemu (TCG). Per metric: the
median of the boots, their spread (max/min - 1) and whether every boot
showed the same value; per guest and environment: the seconds a boot took
(domain created to destroyed).

Run from the repository root after `make guests`::

    .venv/bin/python benchmarks/foreign_guests.py --boots 3

Results: ``benchmarks/results/foreign_guests.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.plugin.pyproject import tool_hermit  # noqa: E402
from pytest_hermit.results.profile_parser import ProfileParser  # noqa: E402
from pytest_hermit.results.profiles import GuestProfile, load_profiles  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: (example folder, profile, workload) of each guest.
GUESTS = (
    ("memtest86", "memtest86", "bandwidth"),
    ("debian-kernel", "debian-kernel", "raid6_pq xor"),
)
ENVS = ("icount", "qemu")


def profile_of(folder: str, name: str) -> GuestProfile:
    pyproject = ROOT / "examples" / folder / "pyproject.toml"
    return load_profiles(tool_hermit(pyproject), str(pyproject))[name]


def summary(values: list[float]) -> dict[str, float | bool]:
    return {
        "median": statistics.median(values),
        "spread_percent": (max(values) / min(values) - 1) * 100 if min(values) > 0 else float("inf"),
        "identical": len(set(values)) == 1,
    }


def main() -> None:
    end_on_sigterm()  # a killed study must not leave its VM behind
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "foreign_guests.json")
    args = parser.parse_args()
    state = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pytest-hermit"
    conns = Connections(state)
    values: dict[str, dict[str, dict[str, list[float]]]] = {}
    seconds: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hermit-foreign-") as tmp:
        for folder, name, workload in GUESTS:
            profile = profile_of(folder, name)
            assert profile.kernel is not None
            for i in range(args.boots):
                for env_name in ENVS:
                    env = BUILTIN[env_name]
                    spec = DomainSpec(
                        unique_name(env),
                        profile.kernel,
                        profile.command_line(workload, 1),
                        initrd=profile.initrd,
                        qemu_args=profile.qemu_args,
                    )
                    record = boot(
                        conns,
                        env,
                        spec,
                        ProfileParser(profile, workload, 1),
                        timeout=profile.timeout or 300,
                        transcript=Path(tmp) / f"{name}-{env_name}-{i}.log",
                        limit_name=f"timeout of guest profile {name}",
                    )
                    for metric, (_unit, got) in record.result.metrics.items():
                        values.setdefault(name, {}).setdefault(env_name, {}).setdefault(metric, []).extend(got)
                    seconds.setdefault(name, {}).setdefault(env_name, []).append(record.wall_s)
                    print(f"{name} boot {i + 1}/{args.boots} {env_name}: {record.wall_s:.1f} s", flush=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "boots": args.boots,
        "loadavg": os.getloadavg(),
        "values": values,
        "seconds_per_boot": seconds,
        "summary": {
            guest: {env: {m: summary(v) for m, v in metrics.items()} for env, metrics in per_env.items()}
            for guest, per_env in values.items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| guest | metric | icount median | icount all boots identical | qemu median | qemu spread of boots |")
    print("|---|---|---:|---|---:|---:|")
    for guest, per_env in result["summary"].items():
        for metric in per_env["icount"]:
            ic, qe = per_env["icount"][metric], per_env["qemu"].get(metric)
            qemu = f"{qe['median']:,.1f} | {qe['spread_percent']:.0f}%" if qe else "- | -"
            print(f"| {guest} | {metric} | {ic['median']:,.1f} | {ic['identical']} | {qemu} |")
    print()
    print("| guest | env | seconds per boot (median, min..max) |")
    print("|---|---|---|")
    for guest, per_env in seconds.items():
        for env_name, s in per_env.items():
            print(f"| {guest} | {env_name} | {statistics.median(s):.1f} ({min(s):.1f}..{max(s):.1f}) |")


if __name__ == "__main__":
    main()
