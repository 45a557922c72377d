"""Host hygiene: how quiet and how tuned a host was just before measuring.

Timed numbers move with the host: a busy CPU, frequency scaling, turbo,
SMT siblings, a scheduler free to put the vCPU anywhere. The plugin does
not tune the host (that is the administrator's job: pyperf's ``system
tune``, kernel ``isolcpus=``); it looks, says what it saw in the summary,
warns when the host is busy, and records the state with the baseline
context so a reader of two numbers can tell why they differ. It never
refuses a comparison for it: the fingerprint decides comparability.

Pure: text of /proc and /sys files (or libvirt's numbers) in, a frozen
:class:`HostState` out. Reading the files, and each host's one preflight
in a session, is ``vm/hygiene.py``'s job: host hygiene lives in these two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: How the load figure was taken: the kernel's 1-minute load average, or the
#: CPUs kept busy during a short sample of libvirt's CPU times (remote hosts).
LOADAVG = "loadavg"
CPU_SAMPLE = "cpu-sample"

#: A sample of CPU times shows at most every CPU busy; a host this close to
#: full has no room for the measured vCPU either.
_SAMPLE_BUSY_FRACTION = 0.9


@dataclass(frozen=True)
class HostState:
    """What a preflight saw on one host. None (or empty) where it could not see."""

    #: "local" (read from /proc and /sys) or "libvirt" (what a remote host's libvirt tells).
    seen_through: str
    cpus: int | None = None
    load: float | None = None
    load_kind: str = LOADAVG
    #: Distinct cpufreq governors of the online CPUs, sorted; () when there is no cpufreq.
    governors: tuple[str, ...] = ()
    #: Turbo/boost on (True), off (False), or not visible (None).
    boost: bool | None = None
    smt: bool | None = None
    #: The kernel's isolated CPU list ("" = none), or None when not visible.
    isolated: str | None = None
    #: What this host does not show (remote: governor, boost, isolated CPUs, load average).
    unseen: tuple[str, ...] = ()

    @property
    def busy(self) -> bool:
        """Too loaded to measure: load average at or above the CPU count (a CPU sample at 90%)."""
        if self.load is None or not self.cpus:
            return False
        if self.load_kind == CPU_SAMPLE:
            return self.load >= _SAMPLE_BUSY_FRACTION * self.cpus
        return self.load >= self.cpus

    def load_text(self) -> str:
        if self.load is None:
            return "load unknown"
        where = f" on {self.cpus} CPUs" if self.cpus else ""
        if self.load_kind == CPU_SAMPLE:
            return f"{self.load:.1f} CPUs busy{where} (sampled)"
        return f"load {self.load:.2f}{where}"

    def describe(self) -> str:
        """One line: load, governor, boost, SMT, isolated CPUs, and what could not be seen."""
        parts = [self.load_text() + (" (busy)" if self.busy else "")]
        if "governor" not in self.unseen:
            parts.append(f"governor {'/'.join(self.governors)}" if self.governors else "no cpufreq governor")
        if "boost" not in self.unseen:
            parts.append("boost " + _on_off(self.boost))
        parts.append("SMT " + _on_off(self.smt))
        if "isolated CPUs" not in self.unseen:
            isolated = "unknown" if self.isolated is None else (self.isolated or "none")
            parts.append(f"isolated CPUs {isolated}")
        text = ", ".join(parts)
        if self.unseen:
            text += f"; not visible through {self.seen_through}: {', '.join(self.unseen)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen_through": self.seen_through,
            "cpus": self.cpus,
            "load": self.load,
            "load_kind": self.load_kind,
            "governors": list(self.governors),
            "boost": self.boost,
            "smt": self.smt,
            "isolated": self.isolated,
            "unseen": list(self.unseen),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HostState:
        """The state as stored; a field of the wrong type raises ValueError naming it."""

        def typed(key: str, kinds: tuple[type, ...], default: Any = None) -> Any:
            value = d.get(key, default)
            # JSON true is an int to isinstance: a bool is right only where a bool is asked for.
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) != (bool in kinds)):
                raise ValueError(f"{key} must be {' or '.join(k.__name__ for k in kinds)}, found {value!r}")
            return value

        def strings(key: str) -> tuple[str, ...]:
            value = d.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings, found {value!r}")
            return tuple(value)

        load = typed("load", (int, float))
        return cls(
            seen_through=typed("seen_through", (str,), "") or "",
            cpus=typed("cpus", (int,)),
            load=float(load) if load is not None else None,
            load_kind=typed("load_kind", (str,), LOADAVG) or LOADAVG,
            governors=strings("governors"),
            boost=typed("boost", (bool,)),
            smt=typed("smt", (bool,)),
            isolated=typed("isolated", (str,)),
            unseen=strings("unseen"),
        )


def _on_off(flag: bool | None) -> str:
    return "unknown" if flag is None else ("on" if flag else "off")


def parse_loadavg(text: str) -> float | None:
    """The 1-minute load average of /proc/loadavg."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


def parse_cpulist(text: str) -> frozenset[int]:
    """A kernel CPU list (``0-3,8``, as in /sys/devices/system/cpu/online); bad parts are skipped."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.strip().partition("-")
        try:
            cpus.update(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return frozenset(cpus)


def boost_from(cpufreq_boost: str | None, intel_no_turbo: str | None) -> bool | None:
    """Turbo state from cpufreq's ``boost`` (1 = on) or intel_pstate's ``no_turbo`` (1 = off)."""
    if cpufreq_boost is not None and cpufreq_boost.strip() in ("0", "1"):
        return cpufreq_boost.strip() == "1"
    if intel_no_turbo is not None and intel_no_turbo.strip() in ("0", "1"):
        return intel_no_turbo.strip() == "0"
    return None


def smt_from(active: str | None, control: str | None) -> bool | None:
    """SMT from /sys/devices/system/cpu/smt: ``active`` 1/0; ``control`` notsupported means none."""
    if active is not None and active.strip() in ("0", "1"):
        return active.strip() == "1"
    if control is not None and control.strip() in ("notsupported", "off", "forceoff", "notimplemented"):
        return False
    if control is not None and control.strip() == "on":
        return True
    return None


#: The files a local preflight reads, relative to /sys/devices/system/cpu unless absolute.
LOCAL_FILES = (
    "/proc/loadavg",
    "online",
    "isolated",
    "smt/active",
    "smt/control",
    "cpufreq/boost",
    "intel_pstate/no_turbo",
)


def local_state(files: Mapping[str, str | None], governors: list[str]) -> HostState:
    """A local host's state from the text of :data:`LOCAL_FILES` (None: missing) and each CPU's governor."""
    online = files.get("online")
    cpus = len(parse_cpulist(online)) if online else None
    loadavg = files.get("/proc/loadavg")
    isolated = files.get("isolated")
    return HostState(
        seen_through="local",
        cpus=cpus or None,
        load=parse_loadavg(loadavg) if loadavg is not None else None,
        governors=tuple(sorted({g.strip() for g in governors if g.strip()})),
        boost=boost_from(files.get("cpufreq/boost"), files.get("intel_pstate/no_turbo")),
        smt=smt_from(files.get("smt/active"), files.get("smt/control")),
        isolated=isolated.strip() if isolated is not None else None,
    )


#: What libvirt does not report about a remote host.
REMOTE_UNSEEN = ("governor", "boost", "isolated CPUs", "load average")


def remote_state(info: list[Any], before: Mapping[str, int], after: Mapping[str, int]) -> HostState:
    """A remote host's state from libvirt's ``getInfo()`` and two ``getCPUStats(-1)`` samples.

    ``getInfo`` gives CPUs and threads per core (SMT when above 1); the
    busy CPUs are the share of non-idle time between the two samples times
    the CPUs. Governor, boost and isolated CPUs are not reported by libvirt.
    """
    cpus = int(info[2]) if len(info) > 2 and info[2] else None
    threads = int(info[7]) if len(info) > 7 and info[7] else None
    deltas = {k: after[k] - before[k] for k in after if k in before}
    total = sum(deltas.values())
    load = None
    if cpus and total > 0 and "idle" in deltas:
        load = cpus * (1.0 - (deltas["idle"] + deltas.get("iowait", 0)) / total)
    return HostState(
        seen_through="libvirt",
        cpus=cpus,
        load=max(load, 0.0) if load is not None else None,
        load_kind=CPU_SAMPLE,
        smt=threads > 1 if threads is not None else None,
        unseen=REMOTE_UNSEEN,
    )
