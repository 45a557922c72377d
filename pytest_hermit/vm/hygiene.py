"""The host preflight's side effects: /proc and /sys for this machine, libvirt for a remote one.

Everything it concludes is ``gate/hygiene.py``'s (pure, tested on fixture
text); this module only reads. The embedded driver and a daemon on the
loopback address run on this machine, so both are read locally, which sees
more (governor, boost, isolated CPUs) than libvirt tells.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_hermit.gate.hygiene import LOCAL_FILES, HostState, local_state, remote_state
from pytest_hermit.vm.probes import is_local

CPU_SYSFS = Path("/sys/devices/system/cpu")
#: Long enough to average over a scheduler tick or two, short enough to ask once per host.
SAMPLE_S = 0.5


def is_this_machine(uri: str) -> bool:
    """The URI's libvirt runs here: a local URI, or one whose host is the loopback address."""
    if is_local(uri):
        return True
    host = urlsplit(uri).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def read_local(cpu_sysfs: Path = CPU_SYSFS, proc: Path = Path("/proc")) -> HostState:
    """This machine's state (the folders are parameters so tests can hand in fixture trees)."""
    files: dict[str, str | None] = {}
    for name in LOCAL_FILES:
        path = proc / name.removeprefix("/proc/") if name.startswith("/proc/") else cpu_sysfs / name
        files[name] = _read(path)
    governors = [g for p in sorted(cpu_sysfs.glob("cpu[0-9]*/cpufreq/scaling_governor")) if (g := _read(p))]
    return local_state(files, governors)


def read_remote(conn: Any, lv: Any, sample_s: float = SAMPLE_S) -> HostState:
    """What a remote host's libvirt tells: CPUs, SMT, and how busy its CPUs were over ``sample_s``."""
    info = conn.getInfo()
    try:
        before = conn.getCPUStats(lv.VIR_NODE_CPU_STATS_ALL_CPUS)
        time.sleep(sample_s)
        after = conn.getCPUStats(lv.VIR_NODE_CPU_STATS_ALL_CPUS)
    except lv.libvirtError:
        before = after = {}
    return remote_state(info, before, after)
