"""Boot the reference guest with plain QEMU (no libvirt) for its own tests.

Every QEMU started here has a hard timeout and is killed by its PID on every
path; nothing is left running.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUEST_DIR = REPO / "guest"
ELF = GUEST_DIR / "build" / "refguest.elf"
PVH_ELF = GUEST_DIR / "build" / "refguest-pvh.elf"
ISO = GUEST_DIR / "build" / "refguest.iso"
QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
DEBUG_EXIT = ("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
#: QEMU counts instructions (the plugin's icount environment): the guest's clock is the
#: instructions it executed (1 GHz, one per nanosecond), the same in every boot on any host.
ICOUNT = ("-icount", "shift=0,sleep=off")
# isa-debug-exit makes QEMU exit with (value << 1) | 1
EXIT_OK = 33
EXIT_ERROR = 35


@dataclass
class Boot:
    """One boot: console lines with host times (seconds after QEMU's start)."""

    lines: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    wall: float = 0.0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def time_of(self, prefix: str) -> float | None:
        for line, t in zip(self.lines, self.times, strict=True):
            if line.startswith(prefix):
                return t
        return None


def kvm_unusable_reason() -> str | None:
    """Why -accel kvm cannot run here, or None when it can."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as exc:
        return f"/dev/kvm cannot be opened read-write: {exc.strerror}"
    os.close(fd)
    return None


def qemu_command(
    cmdline: str,
    accel: str = "tcg",
    *,
    kernel: Path = ELF,
    memory_mib: int = 512,
    debug_exit: bool = True,
) -> list[str]:
    cmd = [
        QEMU,
        "-accel",
        accel,
        "-cpu",
        "qemu64",
        "-bios",
        QBOOT,
        "-m",
        str(memory_mib),
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-nodefaults",
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-append",
        cmdline,
    ]
    if debug_exit:
        cmd += DEBUG_EXIT
    return cmd


def run(cmd: list[str], timeout: float, stop_after: str | None = None) -> Boot:
    """Run QEMU, collect its console until it exits or `timeout` passes.

    With `stop_after`, the run ends (QEMU killed) once a line starting with it
    arrived: for guests that do not power off (workload=hang).
    """
    boot = Boot()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                boot.timed_out = True
                break
            if not sel.select(min(left, 0.5)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            now = time.monotonic() - start
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                boot.lines.append(raw.decode("utf-8", "replace").rstrip("\r"))
                boot.times.append(now)
                if stop_after and boot.lines[-1].startswith(stop_after):
                    break
            if stop_after and boot.lines and boot.lines[-1].startswith(stop_after):
                break
    finally:
        sel.close()
        if not boot.timed_out and not stop_after:
            try:  # console closed: QEMU is exiting on its own
                proc.wait(timeout=max(0.1, min(5.0, timeout - (time.monotonic() - start))))
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            proc.kill()  # by PID: this very process, nothing else
        boot.returncode = proc.wait()
        proc.stdout.close()
        boot.wall = time.monotonic() - start
    if buf:
        boot.lines.append(buf.decode("utf-8", "replace").rstrip("\r"))
        boot.times.append(boot.wall)
    return boot


def boot(
    cmdline: str,
    accel: str = "tcg",
    *,
    timeout: float = 60.0,
    kernel: Path = ELF,
    memory_mib: int = 512,
    debug_exit: bool = True,
    icount: bool = False,
) -> Boot:
    """One boot; ``icount``: under TCG with instruction counting (:data:`ICOUNT`), where numbers are exact."""
    cmd = qemu_command(cmdline, accel, kernel=kernel, memory_mib=memory_mib, debug_exit=debug_exit)
    return run([*cmd, *ICOUNT] if icount else cmd, timeout)
