"""State of one pytest session: settings, environments, connections, results.

Kept in ``config.stash`` under :data:`SESSION_KEY` (never in globals),
created at configure time and closed at unconfigure. What is asked of the
host once per session (probes, host fingerprints, the git checkout) is
asked here and kept.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_hermit._version import __version__
from pytest_hermit.errors import ConfigError, HermitError
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate.git import GitState, git_info
from pytest_hermit.gate.hygiene import HostState
from pytest_hermit.gate.judge import Gate
from pytest_hermit.options import Settings
from pytest_hermit.pyproject import tool_hermit
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment, as_pool, load_registry, select
from pytest_hermit.vm.fingerprint import host_fingerprint
from pytest_hermit.vm.guest import GuestImage, resolve
from pytest_hermit.vm.hygiene import HostChecks
from pytest_hermit.vm.pools import matching, spread
from pytest_hermit.vm.probes import Availability, is_local, kvm_usable_locally, probe


def context_for(
    measurement: Measurement,
    env: Environment,
    guest: GuestImage,
    host: bl.HostFingerprint,
    git: GitState,
    now: dt.datetime,
    host_state: HostState | None = None,
) -> bl.Context:
    """The context a baseline entry records: what made the numbers."""
    return bl.Context(
        plugin_version=__version__,
        environment=env.as_dict(),
        host=host,
        guest_sha256=guest.sha256,
        guest_cmdline=measurement.cmdline,
        git_commit=git.commit,
        git_branch=git.branch,
        date=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        git_dirty=git.dirty,
        host_state=host_state,
    )


def _registry(config: pytest.Config, tool: dict[str, Any], source: str) -> dict[str, Environment]:
    """The environments, with deprecation warnings shown the way pytest shows its own configure-time ones.

    A plain ``warnings.warn`` during pytest_configure is silent for a
    DeprecationWarning; ``issue_config_time_warning`` puts it in the warnings
    summary and honours -W / filterwarnings.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = load_registry(tool, source)
    for w in caught:
        config.issue_config_time_warning(w.message if isinstance(w.message, Warning) else UserWarning(w.message), 2)
    return registry


class HermitSession:
    """One run of the plugin."""

    def __init__(self, settings: Settings, registry: dict[str, Environment], selected: list[Environment]) -> None:
        self.settings = settings
        self.registry = registry
        self.selected = selected
        self.conns = Connections(settings.state_dir)
        self.measurements: list[Measurement] = []
        #: Lines for the end of the terminal summary (where a baseline went, ...).
        self.notes: list[str] = []
        #: By (environment, host URI): a pool's hosts are probed one by one.
        self._availability: dict[tuple[str, str], Availability] = {}
        self._guest: GuestImage | None = None
        self._ab_guest: GuestImage | None = None
        self.gate = Gate(settings.gate)
        self._hosts: dict[tuple[str, str], bl.HostFingerprint] = {}
        #: Each measurement's context, made once: the history record must name the host it ran on.
        self._contexts: dict[int, bl.Context] = {}
        #: Pool hosts' fingerprints before any boot, by URI.
        self._machines: dict[str, bl.HostFingerprint] = {}
        self._git: GitState | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> HermitSession:
        pyproject = Path(str(config.rootpath)) / "pyproject.toml"
        try:
            tool = tool_hermit(pyproject)
            settings = Settings.from_config(config, tool, str(pyproject))
            registry = _registry(config, tool, str(pyproject))
            if settings.env_spec is not None:
                source = "--hermit-env" if config.getoption("hermit_env") else f"ini hermit_env ({config.inipath})"
                selected = select(settings.env_spec, registry, source)
            else:
                selected = [registry["kvm" if kvm_usable_locally() else "qemu"]]
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        if settings.libvirt_uri and settings.hosts:
            raise pytest.UsageError("give --hermit-libvirt-uri (one host) or --hermit-hosts (a pool), not both")
        if settings.libvirt_uri:
            # One URI for everything: a pool becomes that one host.
            selected = [replace(env, uri=settings.libvirt_uri, hosts=()) for env in selected]
        if settings.hosts:
            try:
                selected = [as_pool(env, settings.hosts, "--hermit-hosts") for env in selected]
            except ConfigError as exc:
                raise pytest.UsageError(str(exc)) from None
        exact = {e.name: e.default_tolerance for e in registry.values() if e.default_tolerance is not None}
        tolerances = settings.gate.tolerances.with_env_defaults(exact)
        settings = replace(settings, gate=replace(settings.gate, tolerances=tolerances))
        session = cls(settings, registry, selected)
        try:
            session.gate.load()
        except HermitError as exc:
            raise pytest.UsageError(str(exc)) from None
        return session

    def environment(self, name: str) -> Environment:
        for env in self.selected:
            if env.name == name:
                return env
        return self.registry[name]

    def availability(self, env: Environment) -> Availability:
        """The probe's answer for ``env``, asked once per session."""
        key = (env.name, env.uri)
        if key not in self._availability:
            self._availability[key] = probe(env, self.conns)
        return self._availability[key]

    def probed(self) -> dict[str, Availability]:
        """The probes' answers so far, by environment name."""
        return {name: a for (name, _uri), a in self._availability.items()}

    def summary_notes(self) -> list[str]:
        """The lines after the summary's tables: the probes' notes, then the run's own notes."""
        probe_notes = [f"hermit: {name}: {a.note}" for name, a in self.probed().items() if a.note]
        return probe_notes + self.hosts.summary_lines() + self.notes

    @property
    def hosts(self) -> HostChecks:
        """The hosts' preflights (hygiene), one per host, made before its first measurement."""
        checks: HostChecks | None = getattr(self, "_host_checks", None)
        if checks is None:
            checks = self._host_checks = HostChecks(self.conns)
        return checks

    @property
    def guest(self) -> GuestImage:
        if self._guest is None:
            s = self.settings
            self._guest = resolve(s.kernel, s.initrd, s.iso, s.cmdline)
        return self._guest

    def context(self, env: Environment, measurement: Measurement) -> bl.Context:
        """The context a measurement was taken in (host fingerprint asked once per environment)."""
        if id(measurement) in self._contexts:
            return self._contexts[id(measurement)]
        key = (env.name, env.uri)
        if key not in self._hosts:
            conn = self.conns.open(env)
            self._hosts[key] = host_fingerprint(
                conn, is_local(env.uri), measurement.hypervisor, env.emulated, env.domain_type
            )
        state = self.hosts.state_of(env)
        context = context_for(measurement, env, self.guest, self._hosts[key], self.git, dt.datetime.now(), state)
        self._contexts[id(measurement)] = context
        return context

    def pool_host(self, env: Environment, test_id: str) -> Environment:
        """``env`` on the host of its pool that ``test_id`` meets (``vm/pools.py``); ``env`` itself without a pool.

        Under --hermit-compare, the host whose machine matches the test's
        baseline entry, so a changed pool pairs a host with its own baseline;
        otherwise the test id's stable choice among the usable hosts.
        """
        if len(env.hosts) < 2:
            return env
        usable = [h for h in env.hosts if self.availability(replace(env, uri=h)).usable]
        if not usable:
            return env  # the first host's probe says why
        saved = self._saved_host(env.name, test_id)
        if saved is not None:
            candidates = {h: self._machine(replace(env, uri=h)) for h in usable}
            match = matching(saved, candidates)
            if match is not None:
                return replace(env, uri=match)
        return replace(env, uri=spread(test_id, usable))

    def _saved_host(self, env_name: str, test_id: str) -> bl.HostFingerprint | None:
        baseline = self.gate.baseline
        if baseline is None:
            return None
        for entry in baseline:
            if entry.test == test_id and entry.env == env_name:
                return entry.context.host
        return None

    def _machine(self, env: Environment) -> bl.HostFingerprint:
        """A pool host's fingerprint before any boot (no hypervisor signature yet)."""
        if env.uri not in self._machines:
            emulated = self.availability(env).emulated
            conn = self.conns.open(env)
            self._machines[env.uri] = host_fingerprint(conn, is_local(env.uri), None, emulated, env.domain_type)
        return self._machines[env.uri]

    @property
    def git(self) -> GitState:
        """The checkout under test, read once per session (baselines and reports share it)."""
        if self._git is None:
            self._git = git_info(self.settings.rootdir)
        return self._git

    @property
    def guest_if_resolved(self) -> GuestImage | None:
        return self._guest

    @property
    def comparison_label(self) -> str | None:
        """What measurements were compared with: the baseline's name, or image A of an A/B run."""
        if self.settings.ab_kernel is not None:
            return f"A ({self.guest.kernel.name}, interleaved)"
        return self.settings.gate.compare

    @property
    def ab_guest(self) -> GuestImage | None:
        """Image B of an A/B run (--hermit-ab), or None."""
        s = self.settings
        if s.ab_kernel is None:
            return None
        if self._ab_guest is None:
            cmdline = " ".join(w for w in (s.cmdline, s.ab_cmdline) if w)
            self._ab_guest = resolve(s.ab_kernel, s.ab_initrd, None, cmdline)
        return self._ab_guest

    def close(self) -> None:
        self.conns.close()


SESSION_KEY = pytest.StashKey[HermitSession]()
#: Outcome of a test's call phase, for fixtures that keep artifacts only on failure.
OUTCOME_KEY = pytest.StashKey[str]()


def session_of(config: pytest.Config) -> HermitSession:
    return config.stash[SESSION_KEY]
