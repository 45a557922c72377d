"""The environment registry: the four of the reference study, icount, and the user's own.

An environment is plain data (which hypervisor, which libvirt driver, how the
guest boots); whether this host can run it is the probe's business
(``probes.py``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, replace
from typing import Any

from pytest_hermit.errors import ConfigError, HermitDeprecationWarning

#: libvirt URI placeholder: the embedded QEMU driver rooted in the plugin's state dir.
EMBEDDED_QEMU = "qemu:///embed"


@dataclass(frozen=True)
class Environment:
    """One way of running the guest: hypervisor, libvirt driver and boot path."""

    name: str
    base: str
    domain_type: str
    os_type: str
    machine: str
    uri: str
    expected_signature: str
    boot: str = "kernel"
    cpu_model: str | None = None
    cpu_disabled_features: tuple[str, ...] = ()
    memory_mib: int = 512
    vcpus: int = 1
    description: str = ""
    #: QEMU TCG with deterministic instruction counting (``-icount shift=0,sleep=off``):
    #: the guest's TSC counts executed instructions, so a number depends on the
    #: code path, not on the host's load. "Cycles" are instructions, not time.
    icount: bool = False
    #: Boots, repetitions and tolerance when neither the command line nor the
    #: test says otherwise (None: the plugin's defaults).
    default_boots: int | None = None
    default_reps: int | None = None
    default_tolerance: float | None = None
    #: Set by the probe: numbers from this environment come from emulation
    #: (e.g. /dev/kvm without VT-x/AMD-V) and prove function, not speed.
    emulated: bool = False
    #: Host CPUs the vCPUs may run on and where QEMU's own threads go, in
    #: libvirt's cpuset syntax (``1``, ``2-3,^2``); None: wherever the host
    #: scheduler likes. Pinning keeps a measured vCPU off the CPU the
    #: emulator and the host's noise use.
    cpuset: str | None = None
    emulator_cpuset: str | None = None
    #: A pool: libvirt URIs of hosts that take turns (``vm/pools.py``); ``uri``
    #: is then the host a test was given (the first one until then).
    hosts: tuple[str, ...] = ()
    #: Boots at once per host across processes; None: no limit (pools: 1).
    max_parallel: int | None = None

    @property
    def is_xen(self) -> bool:
        return self.domain_type == "xen"

    def as_dict(self) -> dict[str, Any]:
        """The definition as stored with a baseline (what made the numbers)."""
        return {
            "name": self.name,
            "base": self.base,
            "domain_type": self.domain_type,
            "os_type": self.os_type,
            "machine": self.machine,
            "uri": self.uri,
            "boot": self.boot,
            "cpu_model": self.cpu_model,
            "memory_mib": self.memory_mib,
            "vcpus": self.vcpus,
            "icount": self.icount,
            # Only when set, so unpinned definitions (and the ids of their saved contexts) stay as they were.
            **({"cpuset": self.cpuset} if self.cpuset is not None else {}),
            **({"emulator_cpuset": self.emulator_cpuset} if self.emulator_cpuset is not None else {}),
        }


BUILTIN: dict[str, Environment] = {
    env.name: env
    for env in (
        Environment(
            name="kvm",
            base="kvm",
            domain_type="kvm",
            os_type="hvm",
            machine="pc",
            uri=EMBEDDED_QEMU,
            expected_signature="KVMKVMKVM",
            # qemu64 is what works under every KVM, including the instruction
            # emulator behind a /dev/kvm without VT-x/AMD-V; svm is off
            # because qemu64 advertises it and KVM refuses it without nesting.
            cpu_model="qemu64",
            cpu_disabled_features=("svm",),
            description="QEMU with KVM acceleration",
        ),
        Environment(
            name="qemu",
            base="qemu",
            domain_type="qemu",
            os_type="hvm",
            machine="pc",
            uri=EMBEDDED_QEMU,
            expected_signature="TCGTCGTCGTCG",
            cpu_model="qemu64",
            description="QEMU, pure emulation (TCG)",
        ),
        Environment(
            name="hvm",
            base="hvm",
            domain_type="xen",
            os_type="hvm",
            machine="xenfv",
            uri="xen:///system",
            expected_signature="XenVMMXenVMM",
            # Direct kernel boot of an HVM guest hangs in Debian's Xen 4.17
            # (fw_cfg DMA); a GRUB ISO is also how HermitCore's HVM port boots.
            boot="iso",
            description="Xen, fully virtualized",
        ),
        Environment(
            name="pvh",
            base="pvh",
            domain_type="xen",
            os_type="xenpvh",
            machine="xenpvh",
            uri="xen:///system",
            expected_signature="XenVMMXenVMM",
            description="Xen, PVH",
        ),
        Environment(
            name="icount",
            base="icount",
            domain_type="qemu",
            os_type="hvm",
            machine="pc",
            uri=EMBEDDED_QEMU,
            expected_signature="TCGTCGTCGTCG",
            cpu_model="qemu64",
            icount=True,
            # Two boots: exactness must be observed, not assumed (one value always
            # equals itself), and a guest that is not deterministic (a Linux kernel)
            # shows it between boots. When both agree, a change of half a percent
            # is a change of the code path.
            default_boots=2,
            default_reps=1,
            default_tolerance=0.005,
            description="QEMU TCG counting instructions: virtual cycles = instructions executed, not time",
        ),
    )
}

#: The keys of ``[tool.hermit.environments.NAME]``, as the README names them.
_USER_KEYS = (
    "base",
    "uri",
    "memory",
    "vcpus",
    "machine",
    "cpu",
    "boot",
    "icount",
    "cpuset",
    "emulator_cpuset",
    "hosts",
    "max_parallel",
    "description",
)

#: libvirt's cpuset: comma-separated CPUs and ranges, each may be excluded with ``^``.
_CPUSET_PART = re.compile(r"(\^?)(\d+)(?:-(\d+))?")


def cpuset_problem(value: object) -> str | None:
    """Why ``value`` is not a libvirt cpuset (``1``, ``0-3``, ``0-3,^2``), or None.

    libvirt would refuse a bad one only when the domain is created, in the
    middle of a run, with a message that names no configuration file.
    """
    if not isinstance(value, str) or not value.strip():
        return f"must be a non-empty string of CPU numbers and ranges such as '1' or '2-3', got {value!r}"
    included: set[int] = set()
    excluded: set[int] = set()
    for part in value.split(","):
        match = _CPUSET_PART.fullmatch(part.strip())
        if match is None:
            return f"{value!r} is not a CPU list: {part.strip()!r} is neither N, N-M nor ^N (e.g. '1', '2-3,^2')"
        low = int(match.group(2))
        high = int(match.group(3)) if match.group(3) is not None else low
        if high < low:
            return f"{value!r} is not a CPU list: range {low}-{high} runs backwards"
        (excluded if match.group(1) else included).update(range(low, high + 1))
    if not included - excluded:
        return f"{value!r} leaves no CPU to run on"
    return None


#: Second names accepted for a while, with a deprecation warning: old name -> the README's name.
_DEPRECATED_KEYS = {"libvirt_uri": "uri", "memory_mib": "memory", "cpu_model": "cpu"}


def _current_keys(table: dict[str, Any], where: str) -> dict[str, Any]:
    """The table with deprecated key names renamed (each warned about once); both names at once is an error."""
    out = dict(table)
    for old, new in _DEPRECATED_KEYS.items():
        if old not in table:
            continue
        if new in table:
            raise ConfigError(f"{where}: give {new!r} only ({old!r} is its deprecated second name)")
        warnings.warn(
            HermitDeprecationWarning(f"{where}: key {old!r} is deprecated; name it {new!r}"),
            stacklevel=2,
        )
        out[new] = out.pop(old)
    return out


def user_environment(name: str, table: dict[str, Any], source: str) -> Environment:
    """An environment from ``[tool.hermit.environments.NAME]``: a base plus overrides."""
    where = f"{source}: [tool.hermit.environments.{name}]"
    unknown = sorted(set(table) - set(_USER_KEYS) - set(_DEPRECATED_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(_USER_KEYS)}")
    table = _current_keys(table, where)
    base_name = table.get("base")
    if base_name not in BUILTIN:
        raise ConfigError(f"{where}: 'base' must be one of {', '.join(BUILTIN)}, got {base_name!r}")
    env = replace(
        BUILTIN[base_name], name=name, description=str(table.get("description", f"{base_name}, user-defined"))
    )

    def integer(key: str) -> int:
        value = table[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
        return value

    def text(key: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
        return value

    if "uri" in table and "hosts" in table:
        raise ConfigError(f"{where}: give 'uri' (one host) or 'hosts' (a pool), not both")
    if "uri" in table:
        env = replace(env, uri=text("uri"))
    if "hosts" in table:
        env = as_pool(env, table["hosts"], f"{where}: hosts")
    if "max_parallel" in table:
        env = replace(env, max_parallel=integer("max_parallel"))
    if "memory" in table:
        env = replace(env, memory_mib=integer("memory"))
    if "vcpus" in table:
        env = replace(env, vcpus=integer("vcpus"))
    if "machine" in table:
        env = replace(env, machine=text("machine"))
    if "cpu" in table:
        env = replace(env, cpu_model=text("cpu"), cpu_disabled_features=())
    if "icount" in table:
        icount = table["icount"]
        if not isinstance(icount, bool):
            raise ConfigError(f"{where}: icount must be true or false, got {icount!r}")
        if icount and env.domain_type != "qemu":
            raise ConfigError(
                f"{where}: icount = true needs QEMU's TCG (base = 'qemu' or 'icount'), not base = {base_name!r}"
            )
        exact = BUILTIN["icount"]
        env = replace(
            env,
            icount=icount,
            default_boots=exact.default_boots if icount else None,
            default_reps=exact.default_reps if icount else None,
            default_tolerance=exact.default_tolerance if icount else None,
        )
    for key in ("cpuset", "emulator_cpuset"):
        if key in table:
            problem = cpuset_problem(table[key])
            if problem is not None:
                raise ConfigError(f"{where}: {key} {problem}")
            env = replace(env, **{key: table[key].strip()})
    if "boot" in table:
        boot = text("boot")
        if boot not in ("kernel", "iso"):
            raise ConfigError(f"{where}: boot must be 'kernel' or 'iso', got {boot!r}")
        env = replace(env, boot=boot)
    return env


def default_tolerances(registry: dict[str, Environment]) -> dict[str, float]:
    """The environments' own default tolerances (icount's 0.5%), by name: the gate and ``compare`` share them."""
    return {e.name: e.default_tolerance for e in registry.values() if e.default_tolerance is not None}


def load_registry(tool: dict[str, Any], source: str) -> dict[str, Environment]:
    """Built-in environments plus the ones of ``[tool.hermit.environments]``."""
    registry = dict(BUILTIN)
    tables = tool.get("environments", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: [tool.hermit.environments] must be a table of tables")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [tool.hermit.environments.{name}] must be a table")
        if name in BUILTIN:
            raise ConfigError(
                f"{source}: environment {name!r} shadows a built-in one; pick another name and set base = {name!r}"
            )
        registry[name] = user_environment(name, table, source)
    return registry


def select(spec: str, registry: dict[str, Environment], source: str) -> list[Environment]:
    """Environments named by ``kvm,qemu`` or ``all``; an unknown name is a usage error."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{source}: no environment named; known: {', '.join(registry)}")
    if names == ["all"]:
        return list(registry.values())
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise ConfigError(
            f"{source}: unknown environment {', '.join(repr(n) for n in unknown)}; "
            f"known: {', '.join(registry)} (or 'all')"
        )
    seen: dict[str, Environment] = {}
    for n in names:
        seen.setdefault(n, registry[n])
    return list(seen.values())


def as_pool(env: Environment, hosts: object, where: str) -> Environment:
    """``env`` booting on a pool of ``hosts`` (libvirt URIs), one VM at a time per host by default.

    ``where`` names the setting in errors (a pyproject key or --hermit-hosts).
    """
    if not isinstance(hosts, list | tuple) or not hosts or not all(isinstance(h, str) and h.strip() for h in hosts):
        raise ConfigError(
            f"{where} must be a non-empty list of libvirt URIs "
            f'(e.g. ["qemu+ssh://bench1/system", "qemu:///embed"]), got {hosts!r}'
        )
    uris = tuple(h.strip() for h in hosts)
    if len(set(uris)) != len(uris):
        raise ConfigError(f"{where} names a URI twice: {list(uris)!r}")
    return replace(env, hosts=uris, uri=uris[0], max_parallel=1)
