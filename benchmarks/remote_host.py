"""Seconds per boot through a libvirt daemon on loopback TCP against the embedded driver.

The same process boots the hello workload (qemu, TCG) alternately through
``qemu:///embed`` and through a libvirtd of its own on 127.0.0.1
(``tests/libvirtd_host.py``: private mount namespace, loopback only), so
host drift hits both alike. A boot's seconds are the plugin's own
``BootRecord.wall_s``: create, console, run, destroy. Both connections are
opened (and QEMU probed) before the first timed boot. Run from the
repository root after ``make -C guest``::

    .venv/bin/python benchmarks/remote_host.py --boots 10

Results: ``benchmarks/results/remote_host.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.results.parsers import ConsoleParser  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN, Environment  # noqa: E402
from pytest_hermit.vm.probes import probe  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402
from tests import libvirtd_host  # noqa: E402

KERNEL = ROOT / "guest" / "build" / "refguest.elf"
RESULTS = ROOT / "benchmarks" / "results"


def one_boot(conns: Connections, env: Environment, scratch: Path) -> tuple[float, float | None]:
    spec = DomainSpec(unique_name(env), KERNEL, "workload=hello reps=1")
    record = boot(conns, env, spec, ConsoleParser("hello", 1), timeout=120, transcript=scratch / f"{spec.name}.log")
    return record.wall_s, record.first_line_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=10, help="boots per driver (alternating)")
    parser.add_argument("--state-dir", type=Path, default=Path.home() / ".cache" / "pytest-hermit")
    parser.add_argument("--out", type=Path, default=RESULTS / "remote_host.json")
    args = parser.parse_args()
    end_on_sigterm()
    embedded = BUILTIN["qemu"]
    wall: dict[str, list[float]] = {"embedded": [], "loopback daemon": []}
    first: dict[str, list[float]] = {k: [] for k in wall}
    conns = Connections(args.state_dir)
    conns.libvirt  # noqa: B018 - libvirt's log goes to the state dir only if set up before its first import
    with tempfile.TemporaryDirectory(prefix="hermit-remote-") as tmp, libvirtd_host.running(Path(tmp)) as daemon:
        remote = replace(embedded, uri=daemon.uri)
        envs = {"embedded": embedded, "loopback daemon": remote}
        for name, env in envs.items():
            availability = probe(env, conns)
            if not availability.usable:
                sys.exit(f"{name}: {availability.reason}")
            one_boot(conns, env, Path(tmp))  # warm-up, not counted
        try:
            for i in range(args.boots):
                order = list(envs.items()) if i % 2 == 0 else list(reversed(envs.items()))
                for name, env in order:
                    seconds, first_ms = one_boot(conns, env, Path(tmp))
                    wall[name].append(seconds)
                    if first_ms is not None:
                        first[name].append(first_ms)
                print(f"boot {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in wall.items()), flush=True)
        finally:
            conns.close()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": os.getloadavg(),
        "cores": os.cpu_count(),
        "workload": "hello, qemu (TCG), 1 vCPU, 512 MiB",
        "seconds_per_boot": wall,
        "first_line_ms": first,
        "median_s": {k: round(statistics.median(v), 3) for k, v in wall.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| driver | median s per boot | min | max | median ms to first line |\n|---|---:|---:|---:|---:|")
    for k, v in wall.items():
        fl = f"{statistics.median(first[k]):.0f}" if first[k] else "-"
        print(f"| {k} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} | {fl} |")


if __name__ == "__main__":
    main()
