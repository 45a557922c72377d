"""Host hygiene's side effects: reading a host, and one preflight per host of a session.

Host hygiene lives in two modules: what the readings mean is
``gate/hygiene.py``'s (pure, tested on fixture text); this one reads
(/proc and /sys for this machine, libvirt for a remote one) and keeps the
session's preflights (:class:`HostChecks`). The embedded driver and a
daemon on the loopback address run on this machine, so both are read
locally, which sees more (governor, boost, isolated CPUs) than libvirt
tells.

A preflight is asked once per host (the resolved libvirt URI, so two
environments on one host share it), shown in the summary, recorded in the
baseline context. A busy host is a warning, or with
``--hermit-require-quiet-host`` a broken run (exit 6: retry on a quiet
host). Not a pytest warning: a project that turns warnings into errors (as
this one does) would make every test on a busy CI host fail without asking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_hermit.errors import RunError
from pytest_hermit.gate.hygiene import LOCAL_FILES, REMOTE_UNSEEN, HostState, local_state, remote_state
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment
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


#: How a host's preflight line starts in the terminal summary (xdist keeps one per host).
HOST_NOTE_PREFIX = "hermit: host "


def busy_message(label: str, state: HostState) -> str:
    return (
        f"host {label} is busy before measuring ({state.load_text()}): timed numbers will carry its load; "
        "measure when it is quiet, pin the vCPU away from the noise (cpuset), or count instructions (icount)"
    )


class HostChecks:
    """The preflight of each host of one session, by resolved URI."""

    def __init__(self, conns: Connections) -> None:
        self._conns = conns
        self._states: dict[str, tuple[str, HostState]] = {}

    def preflight(self, env: Environment) -> tuple[HostState, bool]:
        """The host's state, read on the first call for its host; True when read now."""
        uri = self._conns.resolve_uri(env)
        if uri in self._states:
            return self._states[uri][1], False
        if is_this_machine(uri):
            state = read_local()
        else:
            lv = self._conns.libvirt
            try:
                state = read_remote(self._conns.open(env), lv)
            except lv.libvirtError:
                state = HostState("libvirt", unseen=(*REMOTE_UNSEEN, "CPUs", "SMT"))
        # The placeholder, not the embedded root's path: what the user wrote.
        self._states[uri] = (env.uri, state)
        return state, True

    def state_of(self, env: Environment) -> HostState | None:
        known = self._states.get(self._conns.resolve_uri(env))
        return known[1] if known is not None else None

    def check(self, env: Environment, *, require_quiet: bool, say: Callable[[str], None]) -> HostState:
        """Preflight ``env``'s host; warn once when busy, or raise under ``require_quiet``.

        icount is exempt: a busy host changes no instruction count.
        """
        state, fresh = self.preflight(env)
        if env.icount or not state.busy:
            return state
        message = busy_message(env.uri, state)
        if require_quiet:
            raise RunError(f"{message} (--hermit-require-quiet-host)", env=env.name)
        if fresh:
            say(f"hermit: warning: {message}")
        return state

    def summary_lines(self) -> list[str]:
        return [f"{HOST_NOTE_PREFIX}{label}: {state.describe()}" for label, state in self._states.values()]
