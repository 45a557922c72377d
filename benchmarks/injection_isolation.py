"""Injection isolation: does inject=getpid:30 leave the other basic metrics alone?

Runs the gate test's scenario (tests/test_gate_vm.py) N times through the
plugin itself, each run in a fresh temporary folder:

    pytest --hermit-env=qemu --hermit-boots=10 --hermit-reps=5 --hermit-save=main
    pytest ... --hermit-compare=main --hermit-cmdline=inject=getpid:30

(with --mode=ab instead one interleaved A/B run per repetition, B =
the same image with the injection, as tests/test_reports_vm.py does) and
counts, per metric, how often the gate called it a regression: getpid should
be caught every time, sched_yield, malloc and first_page_access never.

Verdicts, changes, intervals and every per-boot sample are read from the
plugin's --hermit-json reports and kept in the output file (default
benchmarks/results/injection-isolation.json), together with the load
average sampled every second during each phase.

    python benchmarks/injection_isolation.py                 # 20 gate runs
    python benchmarks/injection_isolation.py --runs 3 --label before-fix \
        --out benchmarks/results/injection-isolation-before.json

Boots one VM at a time (the machine is shared); a run takes about a minute
under TCG here.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METRICS = ("getpid", "sched_yield", "malloc", "first_page_access")
GATE_TEST = """
def test_basic(hermit_run):
    hermit_run("basic")
"""


AVERAGE = re.compile(r"Average time for (getpid|sched_yield|malloc|the first page access): (\d+) cycles")


def arm_a_boot_medians(folder: Path) -> dict[str, list[float]]:
    """Per-boot medians of arm A, from its transcripts (the JSON report holds B's samples only)."""
    out: dict[str, list[float]] = {}
    logs = sorted(
        folder.glob(".hermit/artifacts/*/A/*.log"),
        key=lambda p: int(re.sub(r"\D", "", p.stem.rsplit("boot", 1)[-1]) or 0),
    )
    for log in logs:
        values: dict[str, list[int]] = {}
        for match in AVERAGE.finditer(log.read_text(errors="replace")):
            name = "first_page_access" if match.group(1).startswith("the first") else match.group(1)
            values.setdefault(name, []).append(int(match.group(2)))
        for name, v in values.items():
            out.setdefault(name, []).append(statistics.median(v))
    return out


class LoadSampler:
    """1-minute load average, sampled every second while a phase runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(1.0)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pytest_phase(folder: Path, args: list[str], report: Path, timeout: float) -> dict:
    """One pytest subprocess of the plugin (this checkout's package); its JSON report and the load."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}".rstrip(os.pathsep))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, f"--hermit-json={report}"]
    start = time.monotonic()
    with LoadSampler() as load:
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - start
    phase = {
        "args": args,
        "exit": proc.returncode,
        "wall_s": round(wall, 1),
        "load": load.samples,
        "report": json.loads(report.read_text()) if report.is_file() else None,
    }
    if phase["report"] is None:
        phase["output_tail"] = (proc.stdout + proc.stderr)[-3000:]
    return phase


def metric_summary(report: dict | None) -> dict:
    """Per metric: median, per-boot medians, and the comparison (if any) of the report's one run."""
    if not report or not report.get("runs"):
        return {}
    out = {}
    for name, m in report["runs"][0]["metrics"].items():
        per_boot = [statistics.median(b) for b in m["per_boot"]]
        entry = {"median": m["median"], "boot_medians": per_boot}
        cmp = m.get("comparison")
        if cmp:
            entry.update(
                verdict=cmp["verdict"],
                change=cmp["change"],
                interval=cmp["interval"],
                p_adjusted=cmp.get("p_adjusted"),
                baseline_location=cmp.get("baseline_location"),
                current_location=cmp.get("current_location"),
            )
        out[name] = entry
    return out


def one_run(mode: str, size: list[str], inject: str, image_b: Path | None, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="hermit-isolation-") as tmp:
        folder = Path(tmp)
        (folder / "test_user_gate.py").write_text(GATE_TEST)
        run: dict = {"started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
        if mode == "gate":
            run["save"] = pytest_phase(folder, [*size, "--hermit-save=main"], folder / "save.json", timeout)
            run["compare"] = pytest_phase(
                folder, [*size, "--hermit-compare=main", f"--hermit-cmdline={inject}"], folder / "cmp.json", timeout
            )
        else:
            run["compare"] = pytest_phase(
                folder, [*size, f"--hermit-ab={image_b}", f"--hermit-ab-cmdline={inject}"], folder / "cmp.json", timeout
            )
        run["metrics"] = metric_summary(run["compare"]["report"])
        if mode == "ab":  # A's per-boot medians stand where a gate run has the saved baseline's
            for name, medians in arm_a_boot_medians(folder).items():
                if name in run["metrics"]:
                    run["metrics"][name]["saved_boot_medians"] = medians
        if "save" in run:
            for name, entry in metric_summary(run["save"]["report"]).items():
                if name in run["metrics"]:
                    run["metrics"][name]["saved_boot_medians"] = entry["boot_medians"]
        return run


def spread(values: list[float]) -> float:
    """Half the 10-90% range of per-boot medians, relative to their median (the plugin's ±spread is similar)."""
    q = statistics.quantiles(values, n=10)
    return (q[-1] - q[0]) / 2 / statistics.median(values)


def summarise(runs: list[dict], injected: str) -> dict:
    summary: dict = {"runs": len(runs)}
    for metric in METRICS:
        entries = [
            r["metrics"][metric] for r in runs if metric in r.get("metrics", {}) and "verdict" in r["metrics"][metric]
        ]
        verdicts = [e["verdict"] for e in entries]
        summary[metric] = {
            "compared": len(entries),
            "regression": verdicts.count("regression"),
            "improvement": verdicts.count("improvement"),
            "unchanged": verdicts.count("unchanged"),
            "inconclusive": verdicts.count("inconclusive"),
            "median_change": statistics.median(e["change"] for e in entries) if entries else None,
            "changes": [round(e["change"], 4) for e in entries],
        }
    loads = [x for r in runs for phase in ("save", "compare") if phase in r for x in r[phase]["load"]]
    if loads:
        summary["load_1min"] = {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}
    summary["injected_metric"] = injected
    return summary


def print_summary(summary: dict) -> None:
    print(f"{summary['runs']} runs; load average {summary.get('load_1min')}")
    for metric in METRICS:
        s = summary[metric]
        mc = f"{s['median_change'] * 100:+.1f}%" if s["median_change"] is not None else "-"
        print(
            f"  {metric:18s} regression {s['regression']}/{s['compared']}  unchanged {s['unchanged']}  "
            f"inconclusive {s['inconclusive']}  improvement {s['improvement']}  median change {mc}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=("gate", "ab"), default="gate")
    parser.add_argument("--inject", default="inject=getpid:30")
    parser.add_argument("--boots", type=int, default=10)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest phase")
    parser.add_argument("--kernel", type=Path, default=REPO / "guest" / "build" / "refguest.elf")
    parser.add_argument("--label", default="", help="free text kept in the output (e.g. the guest's commit)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "injection-isolation.json")
    parser.add_argument("--append", action="store_true", help="add the runs to --out (same mode, inject and image)")
    args = parser.parse_args()

    size = ["--hermit-env=qemu", f"--hermit-boots={args.boots}", f"--hermit-reps={args.reps}", "--hermit-timeout=120"]
    injected = args.inject.split("=", 1)[1].split(":", 1)[0]
    # Boot copies of the image, so that rebuilding guest/ during a long run changes nothing;
    # --hermit-ab needs a second file: the same bytes, so B differs from A only by its words.
    tmp_images = tempfile.TemporaryDirectory(prefix="hermit-isolation-img-")
    image = Path(tmp_images.name) / "refguest.elf"
    image.write_bytes(args.kernel.read_bytes())
    size.append(f"--hermit-kernel={image}")
    image_b = None
    if args.mode == "ab":
        image_b = Path(tmp_images.name) / "refguest-b.elf"
        image_b.write_bytes(image.read_bytes())
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    doc = {
        "benchmark": "injection_isolation",
        "label": args.label,
        "mode": args.mode,
        "inject": args.inject,
        "size": size,
        "guest_sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
        "git_commit": commit,
        "host": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
        "runs": [],
    }
    if args.append and args.out.is_file():
        previous = json.loads(args.out.read_text())
        same = ("mode", "inject", "guest_sha256")
        if any(previous.get(k) != doc[k] for k in same):
            parser.error(f"--append: {args.out} differs in {', '.join(same)}")
        doc["runs"] = previous["runs"]
        doc["label"] = previous.get("label") or doc["label"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for i in range(args.runs):
            run = one_run(args.mode, size, args.inject, image_b, args.timeout)
            doc["runs"].append(run)
            verdicts = {m: run["metrics"].get(m, {}).get("verdict", "-") for m in METRICS}
            changes = {m: run["metrics"].get(m, {}).get("change") for m in METRICS}
            shown = " ".join(
                f"{m}={verdicts[m]}({changes[m] * 100:+.1f}%)" if changes[m] is not None else f"{m}={verdicts[m]}"
                for m in METRICS
            )
            print(f"run {i + 1}/{args.runs}: {shown} load {os.getloadavg()[0]:.2f}", flush=True)
            doc["summary"] = summarise(doc["runs"], injected)
            tmp_out = args.out.with_suffix(".tmp")
            tmp_out.write_text(json.dumps(doc, indent=1) + "\n")
            tmp_out.replace(args.out)
    finally:
        tmp_images.cleanup()
    print_summary(doc["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
