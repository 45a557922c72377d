"""Plugin overhead: wall time per boot of the hello workload, three ways, side by side.

(a) plain   ``qemu-system-x86_64 -kernel ...``: from process spawn to the
            ``HERMIT-DONE`` line (and, separately, to QEMU's exit).
(b) bare    the leanest libvirt-python boot cycle: embedded QEMU driver, event
            loop thread, createXML paused, console stream, resume, read to
            HERMIT-DONE, destroy while reaping our own QEMU by PID as child
            subreaper. Timed per boot from createXML to the end of destroy;
            the connection is opened once per process (not counted).
(c) plugin  ``pytest`` on a one-test file calling ``hermit_run("hello",
            boots=K, reps=1)``. Per boot = the time of the ``hermit_run``
            call / K (create to destroy of every boot, measured in the test);
            beside it the plugin's own progress lines ("done in X s", which
            stop before the destroy) and the whole pytest process / K.

The three alternate in rounds (a, b, c for qemu, then for kvm) so host drift
hits all alike. Run from the repository root::

    .venv/bin/python benchmarks/overhead.py --rounds 5 --per-round 5

Results: ``benchmarks/results/overhead.json`` and a Markdown table on stdout.
``overhead.py bare --env qemu --boots K --out FILE`` runs (b) alone.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import json
import os
import re
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
PYTHON = ROOT / ".venv" / "bin" / "python"
KERNEL = ROOT / "guest" / "build" / "refguest.elf"
QBOOT = "/usr/share/qemu/qboot.rom"
CMDLINE = "workload=hello reps=1"
RESULTS = ROOT / "benchmarks" / "results"
ENVS = ("qemu", "kvm")
ACCEL = {"qemu": "tcg", "kvm": "kvm"}
PROGRESS = re.compile(r"hermit: (\w+) hello boot (\d+)/(\d+) done in ([0-9.]+) s")

# --------------------------------------------------------------------------- (a) plain QEMU


def plain_boot(env: str) -> tuple[float, float]:
    """One plain QEMU boot: seconds to HERMIT-DONE, and to QEMU's exit."""
    cmd = [
        "qemu-system-x86_64",
        "-kernel",
        str(KERNEL),
        "-append",
        CMDLINE,
        "-bios",
        QBOOT,
        "-accel",
        ACCEL[env],
        "-cpu",
        "qemu64",
        "-m",
        "512",
        "-display",
        "none",
        "-nodefaults",
        "-serial",
        "stdio",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    done: float | None = None
    for line in proc.stdout:
        if line.startswith(b"HERMIT-DONE"):
            done = time.monotonic() - t0
            break
    proc.wait(timeout=60)
    ended = time.monotonic() - t0
    proc.stdout.close()
    if done is None:
        raise RuntimeError(f"plain {env} boot printed no HERMIT-DONE (exit {proc.returncode})")
    return done, ended


# --------------------------------------------------------------------------- (b) bare libvirt-python

_DOMAIN = """<domain type='{type}'>
  <name>{name}</name><memory unit='MiB'>512</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><loader type='rom'>{qboot}</loader>
    <kernel>{kernel}</kernel><cmdline>{cmdline}</cmdline></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model>{features}</cpu>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices><serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <controller type='usb' model='none'/><memballoon model='none'/></devices>
</domain>"""
_QEMU_CONF = (
    'stdio_handler = "file"\nsecurity_driver = "none"\nnamespaces = [ ]\nremember_owner = 0\ndynamic_ownership = 0\n'
)


def bare(env: str, boots: int, out: Path, grace: float = 0.0) -> None:
    """(b): ``boots`` boots in this process; writes per-boot seconds to ``out``."""
    root = Path(f"/tmp/hb-{os.getuid()}-{env}")  # short: QEMU's monitor socket path must fit
    (root / "etc").mkdir(parents=True, exist_ok=True)
    conf = _QEMU_CONF + ('user = "root"\ngroup = "root"\n' if os.geteuid() == 0 else "")
    (root / "etc" / "qemu.conf").write_text(conf)
    os.environ.setdefault("LIBVIRT_LOG_OUTPUTS", f"3:file:{root}/libvirt.log")
    import libvirt  # type: ignore[import-untyped]

    libvirt.registerErrorHandler(lambda _c, _e: None, None)
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    t_open = time.monotonic()
    conn = libvirt.open(f"qemu:///embed?root={root}")
    conn.getCapabilities()  # QEMU probes (cached in the root) before we adopt orphans
    open_s = time.monotonic() - t_open
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    features = "<feature policy='disable' name='svm'/>" if env == "kvm" else ""
    times: list[float] = []
    drains: list[threading.Thread] = []
    failures: list[str] = []
    kill_s: list[float] = []
    phases: list[list[float]] = []  # createXML; console+resume to HERMIT-DONE; destroy and reap
    for i in range(boots):
        name = f"hb-{os.getpid()}-{i}"
        xml = _DOMAIN.format(type=env, name=name, qboot=QBOOT, kernel=KERNEL, cmdline=CMDLINE, features=features)
        t0 = time.monotonic()
        dom = conn.createXML(xml, libvirt.VIR_DOMAIN_START_PAUSED)
        t_created = time.monotonic()
        stream = conn.newStream(0)
        dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        dom.resume()
        buf = b""
        while b"HERMIT-DONE" not in buf:
            try:
                data = stream.recv(65536)
            except libvirt.libvirtError:  # EIO on the pty: seen under heavy host load
                break
            if not isinstance(data, bytes) or not data:
                break
            buf += data
        t_done = time.monotonic()
        pid = int((root / "run" / "qemu" / f"{name}.pid").read_text())
        reaper = threading.Thread(target=_reap, args=(pid,))
        reaper.start()
        if grace > 0:  # let a guest that powers off by itself end first: destroy then finds QEMU gone
            reaper.join(timeout=grace)
        elif grace < 0:  # experiment: SIGKILL our own QEMU and reap it before libvirt's destroy
            t_kill = time.monotonic()
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass  # the guest's power-off beat us to it
            reaper.join(timeout=5)
            kill_s.append(time.monotonic() - t_kill)
            # give libvirt's monitor-EOF handler a moment to clean the domain up itself
            deadline = time.monotonic() + 0.1
            while time.monotonic() < deadline:
                try:
                    if not dom.isActive():
                        break
                except libvirt.libvirtError:
                    break
                time.sleep(0.002)
        try:
            dom.destroy()
        except libvirt.libvirtError:
            pass  # the guest powered off first (on_poweroff=destroy)
        reaper.join()
        times.append(time.monotonic() - t0)
        phases.append([t_created - t0, t_done - t_created, time.monotonic() - t_done])
        # The stream ends with the domain; abort() on an ended stream can block
        # forever, so drain it to its end off the critical path.
        drains.append(threading.Thread(target=_drain, args=(stream, libvirt.libvirtError), daemon=True))
        drains[-1].start()
        if b"HERMIT-DONE" not in buf:  # the console ended early: seen under heavy host load
            failures.append(f"boot {i}: console ended after {len(buf)} bytes")
            times.pop()
            phases.pop()
    for t in drains:
        t.join(timeout=5)
    conn.close()
    out.write_text(
        json.dumps({"per_boot_s": times, "open_s": open_s, "phases_s": phases, "failures": failures, "kill_s": kill_s})
    )


def _drain(stream: Any, error: type[Exception]) -> None:
    try:
        while stream.recv(65536):
            pass
    except error:
        pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


# --------------------------------------------------------------------------- (c) the plugin

_TEST = """
import json, os, re, time

def test_overhead(hermit_run):
    t0 = time.monotonic()
    m = hermit_run("hello", boots={boots}, reps=1)
    call = time.monotonic() - t0
    hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())
    with open(os.environ["HERMIT_OVERHEAD_OUT"], "w") as f:
        json.dump({{"call_s": call, "boots": m.boots, "vm_hwm_kb": int(hwm.group(1))}}, f)
"""


def plugin_run(env: str, boots: int, work: Path) -> dict[str, Any]:
    test = work / "test_overhead.py"
    test.write_text(_TEST.format(boots=boots))
    out = work / f"plugin-{env}.json"
    cmd = [
        str(PYTHON),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        f"--hermit-env={env}",
        "--rootdir",
        str(work),
        "-c",
        os.devnull,
        str(test),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=work, capture_output=True, text=True, env={**os.environ, "HERMIT_OVERHEAD_OUT": str(out)}, check=False
    )
    total = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"plugin run on {env} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
        )
    if not out.is_file():
        raise RuntimeError(
            f"plugin run on {env} wrote no result (skipped?):\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
        )
    data = json.loads(out.read_text())
    text = proc.stdout + proc.stderr
    progress = [float(m.group(4)) for m in PROGRESS.finditer(text)]
    return {
        "per_boot_call_s": data["call_s"] / boots,
        "progress_s": progress,
        "process_s": total,
        "vm_hwm_kb": data["vm_hwm_kb"],
    }


# --------------------------------------------------------------------------- driver


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="all", choices=("all", "bare"))
    parser.add_argument("--env", default="qemu", choices=ENVS)
    parser.add_argument("--boots", type=int, default=5, help="bare mode: boots")
    parser.add_argument("--out", type=Path, help="bare mode: result file")
    parser.add_argument(
        "--grace", type=float, default=0.0, help="bare mode: wait up to S for QEMU to exit before destroy"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=5, help="boots of each way per round")
    parser.add_argument("--envs", default=",".join(ENVS))
    args = parser.parse_args()
    if args.mode == "bare":
        faulthandler.dump_traceback_later(120, exit=True)  # a hung libvirt call ends the run
        bare(args.env, args.boots, args.out, args.grace)
        return 0
    envs = args.envs.split(",")
    k = args.per_round
    data: dict[str, dict[str, list[float]]] = {
        env: {
            key: []
            for key in (
                "plain_done",
                "plain_exit",
                "bare",
                "bare_process",
                "plugin_call",
                "plugin_progress",
                "plugin_process",
                "plugin_hwm_kb",
                "bare_open",
            )
        }
        for env in envs
    }
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="hermit-overhead-") as tmp:
        work = Path(tmp)
        for rnd in range(args.rounds):
            for env in envs:
                d = data[env]
                for _ in range(k):
                    done, ended = plain_boot(env)
                    d["plain_done"].append(done)
                    d["plain_exit"].append(ended)
                out = work / f"bare-{env}.json"
                t0 = time.monotonic()
                subprocess.run(
                    # --grace -1: the fastest bare cycle, killing and reaping its own QEMU
                    # before libvirt's destroy, as the plugin does.
                    [
                        str(PYTHON),
                        __file__,
                        "bare",
                        "--env",
                        env,
                        "--boots",
                        str(k),
                        "--out",
                        str(out),
                        "--grace",
                        "-1",
                    ],
                    check=True,
                )
                d["bare_process"].append((time.monotonic() - t0) / k)
                b = json.loads(out.read_text())
                d["bare"].extend(b["per_boot_s"])
                d["bare_open"].append(b["open_s"])
                p = plugin_run(env, k, work)
                d["plugin_call"].append(p["per_boot_call_s"])
                d["plugin_progress"].extend(p["progress_s"])
                d["plugin_process"].append(p["process_s"] / k)
                d["plugin_hwm_kb"].append(p["vm_hwm_kb"])
                print(
                    f"round {rnd + 1}/{args.rounds} {env}: plain {statistics.median(d['plain_done']):.3f} "
                    f"bare {statistics.median(d['bare']):.3f} plugin {statistics.median(d['plugin_call']):.3f}",
                    flush=True,
                )
    doc = {
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "per_round": k,
        "load_avg": os.getloadavg(),
        "data": data,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "overhead.json").write_text(json.dumps(doc, indent=1))
    print(table(doc))
    return 0


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def _q(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0]] * 3
    return f"{q[0]:.3f}-{q[2]:.3f}"


def table(doc: dict[str, Any]) -> str:
    rows = [
        "| env | (a) plain QEMU to HERMIT-DONE | (a) to QEMU exit | (b) bare libvirt | (c) plugin, call / boots "
        "| (c) progress lines (no destroy) | (c) whole pytest / boots | c/b | pytest peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for env, d in doc["data"].items():
        label = f"{env} (emulated, no VT-x)" if env == "kvm" else env
        ratio = _med(d["plugin_call"]) / _med(d["bare"])
        cells = [
            f"{_med(d[k]):.3f} s ({_q(d[k])}, n={len(d[k])})"
            for k in ("plain_done", "plain_exit", "bare", "plugin_call", "plugin_progress", "plugin_process")
        ]
        rss = f"{max(d['plugin_hwm_kb']) / 1024:.0f} MiB"
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {ratio:.2f} | {rss} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
