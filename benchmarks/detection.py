"""Detection study: false alarms, power and interval coverage of the regression gate.

Two steps:

``collect``  boots the reference guest (basic workload) many times per arm
             (no injection, twice per round so the A/A pool is twice as large,
             and ``inject=METRIC:1|2|5|10`` for each of the four basic
             metrics), arms interleaved boot by boot so host drift hits every
             arm alike, and writes the per-boot per-rep values to
             ``benchmarks/results/pools-<env>.json`` after every round.
``analyse``  draws many experiments of B boots x R reps from the pools and
             applies our rule (``stats.judge_all`` over the 4 basic metrics,
             default tolerance and confidence) and pytest-benchmark's
             ``--benchmark-compare-fail=mean:5%`` rule to the same draws;
             then, per arm, the fewest boots that reach 80 % and 95 % power
             and the wall time to that decision (both sides' boots, serial).

Every basic boot runs the guest's calibration repetitions, injected or not,
so the no-injection pool is the control of every arm.

Run from the repository root::

    .venv/bin/python benchmarks/detection.py collect --env qemu --boots 60
    .venv/bin/python benchmarks/detection.py analyse --env qemu
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pytest_hermit.errors import RunError
from pytest_hermit.gate import stats
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import BUILTIN
from pytest_hermit.vm.guest import resolve
from pytest_hermit.vm.runner import RunRequest, run
from pytest_hermit.vm.signals import end_on_sigterm

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")
LEVELS = (1, 2, 5, 10)
#: "none" twice: an A/A draw of B boots a side needs 2B boots of it.
ARMS = ("none", "none", *(f"{m}:{p}" for m in METRICS for p in LEVELS))
#: Guest sizes: ~1.5 s per boot of 10 reps under TCG here; the emulated kvm
#: costs ~13,000 cycles per instruction, so it gets the smallest sizes.
SIZES = {"qemu": "iters=100000 mallocs=16", "kvm": "iters=200 mallocs=4"}


def pool_path(env: str, part: str = "") -> Path:
    return RESULTS / f"pools-{env}{'-' + part if part else ''}.json"


def pool_files(env: str) -> list[Path]:
    """Every batch collected for ``env`` (``pools-qemu.json``, ``pools-qemu-2.json``, ...)."""
    return sorted(RESULTS.glob(f"pools-{env}.json")) + sorted(RESULTS.glob(f"pools-{env}-*.json"))


# --------------------------------------------------------------------------- collect


def collect(
    env_name: str, boots: int, reps: int, arms: Sequence[str], budget_s: float, timeout: float, part: str
) -> None:
    env = BUILTIN[env_name]
    emulated = env_name == "kvm"  # this host: /dev/kvm without VT-x (kvm_pvm)
    conns = Connections(Path.home() / ".cache" / "pytest-hermit")
    guest = resolve(None, None, None, "")
    transcripts = Path(os.environ.get("TMPDIR", "/tmp")) / f"hermit-detection-{os.getpid()}"
    pools: dict[str, list[dict[str, list[float]]]] = {arm: [] for arm in arms}
    walls: dict[str, list[float]] = {arm: [] for arm in arms}
    doc: dict[str, Any] = {
        "env": env_name,
        "emulated": emulated,
        "workload": "basic",
        "reps": reps,
        "sizes": SIZES[env_name],
        "arms": list(arms),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "arms interleaved boot by boot; per arm: list of boots, each {metric: [rep values]} (cycles)",
    }
    started = time.monotonic()
    failures = 0
    try:
        for round_no in range(boots):
            for arm in arms:
                extra = SIZES[env_name] + ("" if arm == "none" else f" inject={arm}")
                request = RunRequest(env, guest, "basic", 1, reps, extra, timeout, transcripts, emulated=emulated)
                t0 = time.monotonic()
                try:
                    m = run(conns, request)
                except RunError as exc:
                    failures += 1
                    print(f"boot failed ({arm}): {exc}", file=sys.stderr)
                    continue
                walls[arm].append(time.monotonic() - t0)
                pools[arm].append({metric: list(m[metric].per_boot[0]) for metric in METRICS})
            elapsed = time.monotonic() - started
            doc.update(
                pools=pools,
                wall_s_per_boot={a: round(statistics.median(w), 3) for a, w in walls.items() if w},
                boots_done=round_no + 1,
                failures=failures,
                elapsed_s=round(elapsed),
                finished=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            _write(pool_path(env_name, part), doc)
            print(f"round {round_no + 1}/{boots} done, {elapsed:.0f} s", flush=True)
            if elapsed > budget_s:
                print(f"budget of {budget_s:.0f} s reached after {round_no + 1} rounds", flush=True)
                break
    finally:
        conns.close()


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    tmp.replace(path)


# --------------------------------------------------------------------------- analyse

Boot = dict[str, list[float]]


def load_pools(env: str) -> tuple[dict[str, list[Boot]], dict[str, Any]]:
    """Every batch of ``env`` merged per arm; the batches' metadata."""
    pools: dict[str, list[Boot]] = {}
    meta: dict[str, Any] = {"batches": []}
    for path in pool_files(env):
        doc = json.loads(path.read_text())
        meta["batches"].append(
            {
                k: doc[k]
                for k in (
                    "started",
                    "finished",
                    "boots_done",
                    "reps",
                    "sizes",
                    "elapsed_s",
                    "wall_s_per_boot",
                    "failures",
                )
            }
        )
        meta["emulated"] = doc["emulated"]
        for arm, boots in doc["pools"].items():
            pools.setdefault(arm, []).extend(boots)
    return pools, meta


def samples(boots: Sequence[Boot], metric: str, reps: int) -> Samples:
    return Samples.of(metric, "cycles", [b[metric][:reps] for b in boots])


def pool_median(boots: Sequence[Boot], metric: str) -> float:
    return statistics.median(statistics.median(b[metric]) for b in boots)


def true_change(base: Sequence[Boot], cur: Sequence[Boot], metric: str) -> float:
    """The change between two full pools, by the gate's own location estimator."""
    reps = min(len(base[0][metric]), len(cur[0][metric]))
    return stats.location(samples(cur, metric, reps)) / stats.location(samples(base, metric, reps)) - 1


def cv(boots: Sequence[Boot], metric: str) -> tuple[float, float]:
    """Boot-to-boot CV (of boot medians) and median within-boot CV."""
    meds = [statistics.median(b[metric]) for b in boots]
    within = [statistics.stdev(b[metric]) / statistics.mean(b[metric]) for b in boots]
    return statistics.stdev(meds) / statistics.mean(meds), statistics.median(within)


def experiment(
    rng: np.random.Generator,
    base_pool: Sequence[Boot],
    cur_pool: Sequence[Boot],
    b: int,
    r: int,
    draws: int,
    truth: dict[str, float],
    same_pool: bool,
    tolerance: float = 0.05,
) -> dict[str, dict[str, float]]:
    """Rates per metric over ``draws`` experiments of b boots x r reps a side."""
    counts = {
        m: {"regression": 0, "improvement": 0, "unchanged": 0, "inconclusive": 0, "covered": 0, "mean5_fail": 0}
        for m in METRICS
    }
    for _ in range(draws):
        if same_pool:  # A/A: two disjoint sets of boots of one pool
            idx = rng.choice(len(base_pool), 2 * b, replace=False)
            base = [base_pool[i] for i in idx[:b]]
            cur = [base_pool[i] for i in idx[b:]]
        else:
            base = [base_pool[i] for i in rng.choice(len(base_pool), b, replace=False)]
            cur = [cur_pool[i] for i in rng.choice(len(cur_pool), b, replace=False)]
        pairs = [(samples(base, m, r), samples(cur, m, r)) for m in METRICS]
        seed = int(rng.integers(2**31))
        for (bs, cs), c in zip(pairs, stats.judge_all(pairs, lambda _s: tolerance, seed=seed), strict=True):
            k = counts[c.metric]
            k[c.verdict.name.lower()] += 1
            k["covered"] += c.interval.contains(truth[c.metric])
            # pytest-benchmark --benchmark-compare-fail=mean:5%: mean of all values, >5 % worse fails
            k["mean5_fail"] += statistics.fmean(cs.values) > 1.05 * statistics.fmean(bs.values)
    return {m: {k: v / draws for k, v in c.items()} for m, c in counts.items()}


def analyse(
    env: str, draws: int, aa_draws: int, seed: int, boot_counts: Sequence[int], tolerance: float = 0.05
) -> None:
    pools, meta = load_pools(env)
    rng = np.random.default_rng(seed)
    none = pools["none"]
    reps_collected = min(len(b[m]) for arm in pools.values() for b in arm for m in METRICS)
    rs = sorted({reps_collected, 5} & set(range(1, reps_collected + 1)), reverse=True)
    walls = [w for batch in meta["batches"] for w in batch["wall_s_per_boot"].values()]
    out: dict[str, Any] = {
        "env": env,
        "meta": meta,
        "draws": draws,
        "aa_draws": aa_draws,
        "seed": seed,
        "pool_boots": {a: len(p) for a, p in pools.items()},
        "reps_collected": reps_collected,
        "wall_s_per_boot": statistics.median(walls) if walls else None,
        "noise": {m: dict(zip(("boot_cv", "within_cv"), cv(none, m), strict=True)) for m in METRICS},
    }
    accuracy = []
    for arm in pools:
        if arm == "none":
            continue
        metric, pct = arm.split(":")
        accuracy.append(
            {
                "arm": arm,
                "asked": int(pct) / 100,
                "vs_none_median": pool_median(pools[arm], metric) / pool_median(none, metric) - 1,
                "vs_none_location": true_change(none, pools[arm], metric),
                "others_vs_none": {m: true_change(none, pools[arm], m) for m in METRICS if m != metric},
            }
        )
    out["accuracy"] = accuracy
    rows = []
    n_none = len(none)
    for b in [b for b in boot_counts if 2 * b <= n_none]:
        for r in rs:
            t0 = time.monotonic()
            aa = experiment(rng, none, none, b, r, aa_draws, dict.fromkeys(METRICS, 0.0), True, tolerance)
            rows.append({"kind": "A/A", "arm": "none", "boots": b, "reps": r, "rates": aa})
            for arm in pools:
                # An arm drawn whole every time would not vary: keep B at most half its pool.
                if arm == "none" or 2 * b > len(pools[arm]):
                    continue
                truth = {m: true_change(none, pools[arm], m) for m in METRICS}
                res = experiment(rng, none, pools[arm], b, r, draws, truth, False, tolerance)
                rows.append({"kind": "vs none", "arm": arm, "boots": b, "reps": r, "truth": truth, "rates": res})
            print(f"B={b} R={r}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    out["rows"] = rows
    out["needed"] = boots_needed(rows, reps_collected, out["wall_s_per_boot"])
    out["tolerance"] = tolerance
    suffix = "" if tolerance == 0.05 else f"-tol{tolerance * 100:g}"
    _write(RESULTS / f"detection-{env}{suffix}.json", out)
    print(report(out))


def boots_needed(rows: Sequence[dict[str, Any]], reps: int, wall_s: float | None) -> list[dict[str, Any]]:
    """Per arm: the fewest boots a side (of those drawn) reaching 80 % and 95 % power, and the wall time.

    Wall time to a decision: both sides' boots one after the other, at the
    pools' median seconds per boot (what a save-then-compare or an A/B run
    costs in boots; pytest's own start-up not included).
    """
    out = []
    arms = sorted(
        {r["arm"] for r in rows if r["kind"] == "vs none"}, key=lambda a: (a.split(":")[0], int(a.split(":")[1]))
    )
    for arm in arms:
        metric = arm.split(":")[0]
        cells = sorted((r for r in rows if r["arm"] == arm and r["reps"] == reps), key=lambda r: r["boots"])
        entry: dict[str, Any] = {"arm": arm, "pool_change": cells[0]["truth"][metric] if cells else None}
        for target in (0.8, 0.95):
            hit = next((r["boots"] for r in cells if r["rates"][metric]["regression"] >= target), None)
            entry[f"boots_{int(target * 100)}"] = hit
            entry[f"wall_s_{int(target * 100)}"] = 2 * hit * wall_s if hit and wall_s else None
            entry["tried_up_to"] = cells[-1]["boots"] if cells else 0
        entry["power_at"] = {r["boots"]: r["rates"][metric]["regression"] for r in cells}
        entry["mean5_at"] = {r["boots"]: r["rates"][metric]["mean5_fail"] for r in cells}
        out.append(entry)
    return out


def report(out: dict[str, Any]) -> str:
    lines = [
        f"pools ({out['env']}): "
        + ", ".join(f"{a} {n}" for a, n in out["pool_boots"].items())
        + f" boots x {out['reps_collected']} reps; draws {out['aa_draws']} (A/A), {out['draws']} (power); "
        + f"{out['wall_s_per_boot']:.2f} s per boot (median); tolerance {out['tolerance']:.1%}",
        "",
        "Noise (no-injection pool): "
        + ", ".join(
            f"{m} boot CV {v['boot_cv']:.1%} / within-boot CV {v['within_cv']:.1%}" for m, v in out["noise"].items()
        ),
        "",
        "| arm | asked | vs none (pool medians) | by the gate's estimator | other metrics vs none |",
        "|---|---|---|---|---|",
    ]
    for a in out["accuracy"]:
        others = ", ".join(f"{m} {v:+.1%}" for m, v in a["others_vs_none"].items())
        lines.append(
            f"| {a['arm']} | {a['asked']:+.0%} | {a['vs_none_median']:+.1%} | {a['vs_none_location']:+.1%} | {others} |"
        )
    lines += [
        "",
        "A/A false alarms per metric (ours: regression verdict; mean:5%: pytest-benchmark fails):",
        "",
        "| boots x reps | " + " | ".join(f"{m} ours / mean:5%" for m in METRICS) + " | CI coverage (all) |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    for row in out["rows"]:
        if row["kind"] != "A/A":
            continue
        rt = row["rates"]
        cov = statistics.fmean(rt[m]["covered"] for m in METRICS)
        lines.append(
            f"| {row['boots']}x{row['reps']} | "
            + " | ".join(f"{rt[m]['regression']:.1%} / {rt[m]['mean5_fail']:.1%}" for m in METRICS)
            + f" | {cov:.1%} |"
        )
    lines += [
        "",
        f"Boots a side for 80 % / 95 % power ({out['reps_collected']} reps; wall time = both sides' boots):",
        "",
        "| arm | pool change | power by boots a side, ours (mean:5%) | 80 %: boots, wall | 95 %: boots, wall |",
        "|---|---|---|---|---|",
    ]
    for n in out["needed"]:
        powers = ", ".join(f"{b}: {p:.0%} ({n['mean5_at'][b]:.0%})" for b, p in n["power_at"].items())

        def cell(target: int, n: dict[str, Any] = n) -> str:
            boots = n[f"boots_{target}"]
            if boots is None:
                return f"> {n['tried_up_to']}"
            wall = n[f"wall_s_{target}"]
            return f"{boots}, {wall:.0f} s" if wall else str(boots)

        change = "-" if n["pool_change"] is None else f"{n['pool_change']:+.1%}"
        lines.append(f"| {n['arm']} | {change} | {powers} | {cell(80)} | {cell(95)} |")
    lines += [
        "",
        "Power, every cell (targeted metric: ours regression / mean:5% fails; our CI coverage of the pool change; "
        "other metrics flagged as regressions by ours / mean:5%):",
        "",
        "| arm | pool change | boots x reps | ours | mean:5% | coverage | others flagged (ours / mean:5%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in out["rows"]:
        if row["kind"] != "vs none":
            continue
        metric = row["arm"].split(":")[0]
        rt = row["rates"][metric]
        rest = [m for m in METRICS if m != metric]
        flag = max(row["rates"][m]["regression"] for m in rest)
        flag_pb = max(row["rates"][m]["mean5_fail"] for m in rest)
        lines.append(
            f"| {row['arm']} | {row['truth'][metric]:+.1%} | {row['boots']}x{row['reps']} | "
            f"{rt['regression']:.1%} | {rt['mean5_fail']:.1%} | {rt['covered']:.1%} | "
            f"max {flag:.1%} / {flag_pb:.1%} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    end_on_sigterm()  # a killed study must not leave its VM behind
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="boot the pools")
    c.add_argument("--env", default="qemu", choices=sorted(SIZES))
    c.add_argument("--boots", type=int, default=60, help="boots per arm")
    c.add_argument("--reps", type=int, default=10)
    c.add_argument("--arms", default=",".join(ARMS))
    c.add_argument("--budget", type=float, default=30 * 60, help="stop after the round that passes this (s)")
    c.add_argument("--timeout", type=float, default=300)
    c.add_argument("--part", default="", help="batch name: writes pools-ENV-PART.json (analyse merges batches)")
    a = sub.add_parser("analyse", help="draw experiments from the pools")
    a.add_argument("--env", default="qemu", choices=sorted(SIZES))
    a.add_argument("--draws", type=int, default=200, help="experiments per power cell")
    a.add_argument("--aa-draws", type=int, default=1500, help="experiments per A/A cell")
    a.add_argument("--seed", type=int, default=4)
    a.add_argument("--boots", default="3,5,10,15,20,30", help="boots per side of the drawn experiments")
    a.add_argument("--tolerance", type=float, default=5.0, help="the gate's tolerance in percent (default 5)")
    args = parser.parse_args(argv)
    if args.cmd == "collect":
        collect(args.env, args.boots, args.reps, args.arms.split(","), args.budget, args.timeout, args.part)
    else:
        boots = [int(x) for x in args.boots.split(",")]
        analyse(args.env, args.draws, args.aa_draws, args.seed, boots, args.tolerance / 100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
