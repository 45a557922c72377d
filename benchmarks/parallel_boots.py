"""Two boots at once on one host against one at a time: why a pool host's max_parallel defaults to 1.

In rounds, the basic workload on qemu (TCG, timed) boots once alone, then
twice at the same moment (two threads, the plugin's own boot path); the
order of the two arms alternates between rounds so drift hits both. For
each boot: the guest's getpid and malloc medians (cycles) and the whole
cycle's seconds. Run from the repository root after ``make -C guest``::

    .venv/bin/python benchmarks/parallel_boots.py --rounds 12 --reps 20

Results: ``benchmarks/results/parallel_boots.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.results.parsers import ConsoleParser  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.probes import probe  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

KERNEL = ROOT / "guest" / "build" / "refguest.elf"
RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("getpid", "malloc")


def one_boot(conns: Connections, reps: int, scratch: Path) -> dict[str, float]:
    env = BUILTIN["qemu"]
    spec = DomainSpec(unique_name(env), KERNEL, f"workload=basic reps={reps}")
    record = boot(conns, env, spec, ConsoleParser("basic", reps), timeout=300, transcript=scratch / f"{spec.name}.log")
    out = {m: statistics.median(record.result.metrics[m][1]) for m in METRICS}
    out["seconds"] = record.wall_s
    return out


def together(conns: Connections, reps: int, scratch: Path) -> list[dict[str, float]]:
    results: list[dict[str, float]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work() -> None:
        try:
            start.wait()
            results.append(one_boot(conns, reps, scratch))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--state-dir", type=Path, default=Path.home() / ".cache" / "pytest-hermit")
    parser.add_argument("--out", type=Path, default=RESULTS / "parallel_boots.json")
    args = parser.parse_args()
    end_on_sigterm()
    conns = Connections(args.state_dir)
    if not probe(BUILTIN["qemu"], conns).usable:
        sys.exit("qemu is not usable here")
    arms: dict[str, list[dict[str, float]]] = {"one at a time": [], "two at once": []}
    loads = []
    with tempfile.TemporaryDirectory(prefix="hermit-parallel-") as tmp:
        scratch = Path(tmp)
        one_boot(conns, args.reps, scratch)  # warm-up, not counted
        for r in range(args.rounds):
            order = ["one at a time", "two at once"] if r % 2 == 0 else ["two at once", "one at a time"]
            for arm in order:
                if arm == "one at a time":
                    arms[arm].append(one_boot(conns, args.reps, scratch))
                else:
                    arms[arm].extend(together(conns, args.reps, scratch))
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}/{args.rounds}, load {loads[-1]:.2f}", flush=True)
    conns.close()
    medians = {
        arm: {k: statistics.median(b[k] for b in boots) for k in (*METRICS, "seconds")} for arm, boots in arms.items()
    }
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_1min_per_round": loads,
        "workload": f"basic, qemu (TCG, timed), reps={args.reps}",
        "boots": arms,
        "medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    solo = medians["one at a time"]
    print("| arm | boots | getpid cycles | malloc cycles | s per boot |\n|---|---:|---:|---:|---:|")
    for arm, m in medians.items():
        change = "" if arm == "one at a time" else f" ({(m['getpid'] / solo['getpid'] - 1) * 100:+.0f}%)"
        print(f"| {arm} | {len(arms[arm])} | {m['getpid']:.1f}{change} | {m['malloc']:.0f} | {m['seconds']:.2f} |")


if __name__ == "__main__":
    main()
