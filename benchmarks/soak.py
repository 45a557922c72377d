"""Soak: does a long session give back everything each boot takes? And does a killed run leave anything?

Part 1 boots the hello workload N times (default 1000) in one process through
the plugin's own boot path (``vm.boot``: create, console, read, destroy) on
qemu (TCG), and counts before and after: this process's QEMU processes,
libvirt domains, open descriptors, threads and zombie children; RSS at boots
10, 100 and N; seconds per boot (median) over the first and the last 50.

Part 2 starts a pytest of the plugin in mid-boot of a VM that never ends
(the hang workload), kills it with SIGKILL, then runs a normal pytest on the
same state dir and looks for anything of the killed run afterwards: its
QEMU processes and its domains' pid files.

Run from the repository root::

    .venv/bin/python benchmarks/soak.py --boots 1000

Results: ``benchmarks/results/soak.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_hermit.results.parsers import ConsoleParser  # noqa: E402
from pytest_hermit.vm.boot import boot, unique_name  # noqa: E402
from pytest_hermit.vm.connections import Connections  # noqa: E402
from pytest_hermit.vm.domxml import DomainSpec  # noqa: E402
from pytest_hermit.vm.environments import BUILTIN  # noqa: E402
from pytest_hermit.vm.reaper import children  # noqa: E402
from pytest_hermit.vm.signals import end_on_sigterm  # noqa: E402

KERNEL = ROOT / "guest" / "build" / "refguest.elf"
RESULTS = ROOT / "benchmarks" / "results"
HANG_TEST = 'def test_hang(hermit_run):\n    hermit_run("hang", boots=1, reps=1)\n'
HELLO_TEST = 'def test_hello(hermit_run):\n    hermit_run("hello", boots=1)\n'


def qemu_processes(marker: str) -> list[int]:
    """PIDs of QEMU processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmdline and marker.encode() in cmdline:
            found.append(int(entry))
    return found


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def counts(conn: Any) -> dict[str, Any]:
    return {
        "qemu_processes": len(qemu_processes(f"guest=hermit-qemu-{os.getpid()}-")),
        "domains": len(conn.listAllDomains()),
        "open_fds": len(os.listdir("/proc/self/fd")),
        "threads": len(os.listdir("/proc/self/task")),
        "python_threads": threading.active_count(),
        "zombie_children": sum(1 for c in children() if c.state == "Z"),
        "rss_mib": round(rss_mib(), 1),
    }


def soak(boots: int, state_dir: Path, transcripts: Path) -> dict[str, Any]:
    conns = Connections(state_dir)
    env = BUILTIN["qemu"]
    conn = conns.open(env)

    def one(i: int) -> float:
        spec = DomainSpec(unique_name(env), KERNEL, "workload=hello reps=1")
        record = boot(conns, env, spec, ConsoleParser("hello", 1), timeout=60, transcript=transcripts / "boot.log")
        return record.wall_s

    one(0)  # the connection, event loop and reaper thread open what they keep for the process
    before = counts(conn)
    walls, rss = [], {}
    started = time.monotonic()
    for i in range(1, boots + 1):
        walls.append(one(i))
        if i in (10, 100, boots):
            rss[str(i)] = round(rss_mib(), 1)
        if i % 100 == 0:
            print(f"soak: {i}/{boots} boots, {time.monotonic() - started:.0f} s, rss {rss_mib():.1f} MiB", flush=True)
    after = counts(conn)
    window = min(50, boots)
    return {
        "boots": boots,
        "before": before,
        "after": after,
        "rss_mib_at_boot": rss,
        "s_per_boot_first": round(statistics.median(walls[:window]), 3),
        "s_per_boot_last": round(statistics.median(walls[-window:]), 3),
        "total_s": round(time.monotonic() - started, 1),
        "loadavg": os.getloadavg(),
    }


def pytest_cmd(state_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--hermit-state-dir={state_dir}", *args]


def killed_run(state_dir: Path, folder: Path) -> dict[str, Any]:
    (folder / "test_hang.py").write_text(HANG_TEST)
    (folder / "test_hello.py").write_text(HELLO_TEST)
    victim = subprocess.Popen(
        pytest_cmd(state_dir, "--hermit-env=qemu", "--hermit-timeout=300", "test_hang.py"),
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = f"guest=hermit-qemu-{victim.pid}-"
    deadline = time.monotonic() + 120
    while not qemu_processes(marker):
        if victim.poll() is not None or time.monotonic() > deadline:
            victim.kill()
            raise SystemExit("soak: the run to be killed never started its VM")
        time.sleep(0.1)
    time.sleep(1)  # mid-boot: the guest is up and printing
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    left_after_kill = qemu_processes(marker)
    name_part = f"hermit-qemu-{victim.pid}-"
    pid_files_after_kill = [str(p) for p in state_dir.glob(f"embed-*/run/qemu/{name_part}*.pid")]
    started = time.monotonic()
    second = subprocess.run(
        pytest_cmd(state_dir, "--hermit-env=qemu", "test_hello.py"),
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    time.sleep(0.5)  # init reaps what the second run ended
    return {
        "killed_pid": victim.pid,
        "qemu_left_after_kill": len(left_after_kill),
        "pid_files_left_after_kill": len(pid_files_after_kill),
        "second_run_exit": second.returncode,
        "second_run_s": round(time.monotonic() - started, 1),
        "qemu_left_after_second_run": len(qemu_processes(marker)),
        "pid_files_left_after_second_run": len(list(state_dir.glob(f"embed-*/run/qemu/{name_part}*.pid"))),
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["soak"]
    rows = [
        "| | before | after |",
        "|---|---:|---:|",
        *(f"| {k} | {s['before'][k]} | {s['after'][k]} |" for k in s["before"]),
        "",
        f"RSS at boots {', '.join(s['rss_mib_at_boot'])}: "
        f"{', '.join(str(v) for v in s['rss_mib_at_boot'].values())} MiB; "
        f"seconds per boot (median) first 50 {s['s_per_boot_first']}, last 50 {s['s_per_boot_last']}; "
        f"{s['boots']} boots in {s['total_s']} s.",
    ]
    k = result["killed"]
    rows += [
        "",
        f"kill -9 in mid-boot: {k['qemu_left_after_kill']} QEMU and {k['pid_files_left_after_kill']} pid file(s) "
        f"of the killed run afterwards; the next run (exit {k['second_run_exit']}, {k['second_run_s']} s) left "
        f"{k['qemu_left_after_second_run']} QEMU and {k['pid_files_left_after_second_run']} pid file(s).",
    ]
    return "\n".join(rows)


def main() -> None:
    end_on_sigterm()  # a killed study must not leave its VM behind
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hermit-soak-") as tmp:
        base = Path(tmp)
        # Part 2 in its own state dir: this process holds part 1's root until it exits.
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "soak": soak(args.boots, base / "state", base),
            "killed": killed_run(base / "state-killed", base),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
