"""False alarms and hits of the history's change-point detection on simulated series (no VM, ~30 s).

Each series has N commits of B boots; every boot is level * (1 + noise), the
noise normal with the given CV per boot, and each commit's run shifted as a
whole by normal drift of its own (the host's state between runs). Flat
series count false alarms (any change point); stepped ones count how often
the step is reported, and reported alone at its commit.

    .venv/bin/python benchmarks/history_changepoints.py [--flat 400] [--stepped 200] [--seed 1]

Prints one line per case and writes results/history_changepoints.json;
pytest_hermit/history/changepoints.py quotes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_hermit.history.changepoints import detect

FLAT = [
    {"n": 20, "boots": 10, "cv": 0.03},
    {"n": 20, "boots": 1, "cv": 0.03},
    {"n": 50, "boots": 5, "cv": 0.03},
    {"n": 5, "boots": 10, "cv": 0.03},
    {"n": 20, "boots": 10, "cv": 0.03, "drift": 0.01},
    {"n": 20, "boots": 10, "cv": 0.2, "drift": 0.05},
]
STEPPED = [
    {"n": 20, "boots": 10, "cv": 0.03, "at": 12, "step": 0.05},
    {"n": 20, "boots": 10, "cv": 0.03, "at": 12, "step": 0.02},
    {"n": 20, "boots": 10, "cv": 0.03, "at": 19, "step": 0.05},
    {"n": 20, "boots": 20, "cv": 0.03, "at": 19, "step": 0.05},
    {"n": 20, "boots": 10, "cv": 0.03, "at": 1, "step": 0.05},
    {"n": 20, "boots": 1, "cv": 0.03, "at": 12, "step": 0.10},
    {"n": 5, "boots": 10, "cv": 0.03, "at": 3, "step": 0.05},
    {"n": 20, "boots": 10, "cv": 0.2, "drift": 0.05, "at": 12, "step": 0.3},
]


def series(rng: np.random.Generator, case: dict[str, float]) -> list[list[float]]:
    points = []
    for i in range(int(case["n"])):
        level = 100.0 * (1 + (case.get("step", 0.0) if "at" in case and i >= case["at"] else 0.0))
        run = level * (1 + rng.normal(0, case.get("drift", 0.0)))
        points.append(list(run * (1 + rng.normal(0, case["cv"], int(case["boots"])))))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flat", type=int, default=400)
    parser.add_argument("--stepped", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    results = []
    for kind, cases, trials in (("flat", FLAT, args.flat), ("stepped", STEPPED, args.stepped)):
        for case in cases:
            rng = np.random.default_rng(args.seed)
            alarms = hits = alone = 0
            for _ in range(trials):
                found = [cp.index for cp in detect(series(rng, case), exact_allowed=False).change_points]
                alarms += bool(found)
                hits += case.get("at") in found
                alone += found == [case.get("at")]
            row = {"kind": kind, **case, "trials": trials, "any": alarms / trials}
            if kind == "stepped":
                row |= {"found": hits / trials, "found_alone": alone / trials}
            results.append(row)
            print(json.dumps(row))
    out = Path(__file__).resolve().parent / "results" / "history_changepoints.json"
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
