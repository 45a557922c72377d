"""First boot of a new process: cold root, new root beside a warm one, warm root.

Each trial is a fresh Python process that opens the embedded driver under a
state dir, probes qemu as a session does, and boots the hello workload once;
it reports seconds from its start to the end of that boot (imports included).

- cold:   an empty state dir (a fresh machine, a new CI runner)
- seeded: a new root beside a warm one that another live process holds (a
          second pytest, an xdist worker): it copies the sibling's QEMU
          capabilities
- warm:   the same root again (the usual second run)

Modes alternate in rounds so host drift hits all alike. Run from the
repository root::

    .venv/bin/python benchmarks/cold_start.py --rounds 5

Results: ``benchmarks/results/cold_start.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

TRIAL = """
import sys, time
t0 = time.monotonic()
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.domxml import DomainSpec
from pytest_hermit.vm.environments import BUILTIN
from pytest_hermit.results.parsers import ConsoleParser
from pytest_hermit.vm.probes import probe
from pytest_hermit.vm.boot import boot, unique_name
state = Path(sys.argv[1])
conns = Connections(state)
env = BUILTIN["qemu"]
assert probe(env, conns).usable
kernel = Path(sys.argv[2]) / "guest" / "build" / "refguest.elf"
spec = DomainSpec(unique_name(env), kernel, "workload=hello reps=1")
boot(conns, env, spec, ConsoleParser("hello", 1), timeout=120, transcript=state / "t.log")
print(time.monotonic() - t0)
"""


def trial(state: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", TRIAL, str(state), str(ROOT)], capture_output=True, text=True, check=True, timeout=300
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "cold_start.json")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"cold": [], "seeded": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="hermit-cold-") as tmp:
        base = Path(tmp)
        warm = base / "warm"
        trial(warm)  # makes embed-0 warm
        for r in range(args.rounds):
            cold = base / f"cold-{r}"
            times["cold"].append(trial(cold))
            # Another live process holds the warm root: the trial gets a new slot beside it.
            holder = os.open(warm / "embed-0.lock", os.O_RDWR)
            fcntl.flock(holder, fcntl.LOCK_EX)
            try:
                times["seeded"].append(trial(warm))
            finally:
                os.close(holder)
                shutil.rmtree(warm / "embed-1", ignore_errors=True)
                (warm / "embed-1.lock").unlink(missing_ok=True)
            times["warm"].append(trial(warm))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg": os.getloadavg(),
        "seconds_to_first_boot": times,
        "median": {k: round(statistics.median(v), 2) for k, v in times.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| root | median s to end of first boot | all |\n|---|---:|---|")
    for k, v in times.items():
        print(f"| {k} | {statistics.median(v):.2f} | {', '.join(f'{x:.2f}' for x in v)} |")


if __name__ == "__main__":
    main()
