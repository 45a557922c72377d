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
from pytest_hermit.plugin.options import Settings
from pytest_hermit.plugin.pyproject import tool_hermit
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.profiles import DEFAULT_PROFILE, GuestProfile, load_profiles
from pytest_hermit.vm import slowdown
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment, as_pool, default_tolerances, load_registry, select
from pytest_hermit.vm.fingerprint import host_fingerprint
from pytest_hermit.vm.guest import GuestImage, resolve
from pytest_hermit.vm.hygiene import HostChecks
from pytest_hermit.vm.pools import matching, spread
from pytest_hermit.vm.probes import Availability, default_environment, is_local, probe


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
        guest_sha256=measurement.guest_sha256 or guest.sha256,
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


#: One hermit_run call: (test id, environment name, run).
RunKey = tuple[str, str, str]


def run_key(measurement: Measurement) -> RunKey:
    return (measurement.test_id, measurement.env, measurement.run)


class HermitSession:
    """One run of the plugin."""

    def __init__(
        self,
        settings: Settings,
        registry: dict[str, Environment],
        selected: list[Environment],
        profiles: dict[str, GuestProfile] | None = None,
    ) -> None:
        self.settings = settings
        #: Guest profiles by name: the built-in ones and [tool.hermit.guests].
        self.profiles = profiles if profiles is not None else load_profiles({}, "pyproject.toml")
        self._guests: dict[str, GuestImage] = {}
        self.registry = registry
        self.selected = selected
        self.conns = Connections(settings.state_dir)
        self.measurements: list[Measurement] = []
        #: Lines for the end of the terminal summary (where a baseline went, ...).
        self.notes: list[str] = []
        #: By (environment, host URI): a pool's hosts are probed one by one.
        self._availability: dict[tuple[str, str], Availability] = {}
        self._guest: GuestImage | None = None
        self._ab_guests: dict[str, GuestImage] = {}
        self.gate = Gate(settings.gate)
        self._hosts: dict[tuple[str, str], bl.HostFingerprint] = {}
        #: Per hermit_run call (test, environment name, run): the environment it ran in, as its
        #: test saw it (pool host, the probe's emulated flag), and its context once made. Keyed
        #: by what the call is, never by object identity: a measurement grown by added boots is
        #: a new object of the same call.
        self._taken_in: dict[RunKey, Environment] = {}
        self._contexts: dict[RunKey, bl.Context] = {}
        #: Pool hosts' fingerprints before any boot, by URI.
        self._machines: dict[str, bl.HostFingerprint] = {}
        self._git: GitState | None = None
        #: An emulating KVM's measured slowdown, by (environment, host URI).
        self._slowdowns: dict[tuple[str, str], slowdown.Slowdown] = {}
        #: Why the default environment is not kvm, for the header (said once); empty when --hermit-env chose.
        self.default_note = ""

    @classmethod
    def from_config(cls, config: pytest.Config) -> HermitSession:
        pyproject = Path(str(config.rootpath)) / "pyproject.toml"
        default_note = ""
        try:
            tool = tool_hermit(pyproject)
            settings = Settings.from_config(config, tool, str(pyproject))
            registry = _registry(config, tool, str(pyproject))
            profiles = load_profiles(tool, str(pyproject))
            if settings.env_spec is not None:
                source = "--hermit-env" if config.getoption("hermit_env") else f"ini hermit_env ({config.inipath})"
                selected = select(settings.env_spec, registry, source)
            else:
                name, why = default_environment()
                selected = [registry[name]]
                default_note = f"hermit: default environment {name}: {why}" if why else ""
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
        tolerances = settings.gate.tolerances.with_env_defaults(default_tolerances(registry))
        settings = replace(settings, gate=replace(settings.gate, tolerances=tolerances))
        session = cls(settings, registry, selected, profiles)
        session.default_note = default_note
        try:
            session.gate.load()
        except HermitError as exc:
            raise pytest.UsageError(str(exc)) from None
        chosen_by = "--hermit-guest" if config.getoption("hermit_guest") else "ini hermit_guest"
        session.check_guest(settings.guest, chosen_by)
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
        return probe_notes + self.hosts.summary_lines() + self.gate.notes + self.notes

    @property
    def hosts(self) -> HostChecks:
        """The hosts' preflights (hygiene), one per host, made before its first measurement."""
        checks: HostChecks | None = getattr(self, "_host_checks", None)
        if checks is None:
            checks = self._host_checks = HostChecks(self.conns)
        return checks

    def image_problem(self, items: list[pytest.Item]) -> str | None:
        """Why the guest images the collected tests need cannot be used (missing, unbuilt), or None.

        Each test's own: ``@pytest.mark.hermit(guest=NAME)``'s profile, else --hermit-guest's.
        """
        wanted: dict[str | None, str] = {}
        for item in items:
            if "hermit_guest" not in getattr(item, "fixturenames", ()):
                continue
            marker = item.get_closest_marker("hermit")
            profile = marker.kwargs.get("guest") if marker is not None else None
            if profile is not None and not isinstance(profile, str):
                return f"{item.nodeid}: @pytest.mark.hermit(guest=...) wants a profile name: {profile!r}"
            wanted.setdefault(profile, f"{item.nodeid}: @pytest.mark.hermit(guest={profile!r})" if profile else "")
        if not wanted:
            return None
        for profile, source in wanted.items():
            try:
                self.guest_for(profile)
            except ConfigError as exc:
                return f"{source}: {exc}" if source else str(exc)
        try:
            _ = self.ab_guest_for(None)
        except ConfigError as exc:
            return str(exc)
        return None

    @property
    def guest(self) -> GuestImage:
        """The guest of tests that name none: --hermit-guest's profile (default: reference)."""
        if self._guest is None:
            self._guest = self.guest_for(None)
        return self._guest

    def profile_name(self, profile: str | None) -> str:
        """The profile a test boots: its marker's, else --hermit-guest's, else the reference guest's."""
        return profile or self.settings.guest or DEFAULT_PROFILE

    def guest_for(self, profile: str | None) -> GuestImage:
        """The guest image of a profile (None: --hermit-guest's), resolved once; the image options win."""
        name = self.profile_name(profile)
        if name not in self._guests:
            s = self.settings
            if name not in self.profiles:
                raise ConfigError(f"no guest profile {name!r}; known: {', '.join(self.profiles)}")
            self._guests[name] = resolve(s.kernel, s.initrd, s.iso, s.cmdline, self.profiles[name])
        if name == self.profile_name(None):
            self._guest = self._guests[name]  # the session's guest: what the reports name
        return self._guests[name]

    def check_guest(self, profile: str | None, source: str) -> None:
        """Before any boot: the profile exists and, unless it is the reference guest (built on demand), its files do.

        A usage error otherwise, naming ``source`` (the option or marker that chose it).
        """
        name = self.profile_name(profile)
        if name not in self.profiles:
            raise pytest.UsageError(f"{source}: no guest profile {name!r}; known: {', '.join(self.profiles)}")
        if name == DEFAULT_PROFILE and self.settings.kernel is None:
            return  # the reference guest: an unbuilt one fails the tests that boot it, with what to run
        try:
            self.guest_for(name)
        except ConfigError as exc:
            raise pytest.UsageError(f"{source}={name}: {exc}") from None

    def taken(self, env: Environment, measurement: Measurement) -> None:
        """Note the environment a hermit_run call ran in (its test's own: pool host, emulated flag)."""
        self._taken_in[run_key(measurement)] = env

    def context(self, env: Environment, measurement: Measurement) -> bl.Context:
        """The context a measurement was taken in (host fingerprint asked once per environment and host)."""
        run = run_key(measurement)
        if run in self._contexts:
            return self._contexts[run]
        self._taken_in.setdefault(run, env)
        key = (env.name, env.uri)
        if key not in self._hosts:
            conn = self.conns.open(env)
            self._hosts[key] = host_fingerprint(
                conn, is_local(env.uri), measurement.hypervisor, env.emulated, env.domain_type
            )
        state = self.hosts.state_of(env)
        context = context_for(measurement, env, self.guest, self._hosts[key], self.git, dt.datetime.now(), state)
        self._contexts[run] = context
        return context

    def context_of(self, measurement: Measurement) -> bl.Context:
        """The context of a measurement this session took, in the environment its test ran in."""
        run = run_key(measurement)
        env = self._taken_in.get(run) or self.environment(measurement.env)
        return self.context(env, measurement)

    def boot_timeout(self, env: Environment, emulated: bool) -> tuple[float, str]:
        """Seconds one boot in ``env`` may take, and a line saying why when that is not --hermit-timeout's value.

        Where kvm only emulates (asked for explicitly: it is never the default
        there), its default timeout grows by the slowdown a calibration boot
        measured, once per environment and host.
        """
        timeout = self.settings.timeout
        if self.settings.timeout_given or env.domain_type != "kvm" or not emulated or not is_local(env.uri):
            return timeout, ""
        key = (env.name, env.uri)
        first = key not in self._slowdowns
        if first:
            try:
                reference = resolve(None, None, None, "")
            except ConfigError as exc:
                self._slowdowns[key] = slowdown.Slowdown(None, str(exc))
            else:
                tcg = replace(self.registry["qemu"], uri=env.uri)
                self._slowdowns[key] = slowdown.measure(self.conns, env, tcg, reference)
        measured = self._slowdowns[key]
        scaled = measured.scaled(timeout)
        if not first:
            return scaled, ""
        if measured.factor is None:
            return scaled, (
                f"hermit: {env.name} only emulates here and its slowdown could not be measured "
                f"({measured.reason}): boot timeout stays {timeout:g} s (--hermit-timeout sets it)"
            )
        return scaled, (
            f"hermit: {env.name} only emulates here: a calibration boot ran guest code {measured.factor:.0f}x slower "
            f"than TCG, so each boot may take {scaled:.0f} s ({timeout:g} s x {measured.factor:.0f}; "
            "--hermit-timeout sets it); qemu or icount give numbers in seconds here"
        )

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

    def ab_guest_for(self, profile: str | None) -> GuestImage | None:
        """Image B of an A/B run (--hermit-ab) booted with ``profile`` (None: --hermit-guest's), or None.

        B is read by the profile of the test's image A: a test that names its
        guest with the marker compares B in that guest's dialect.
        """
        s = self.settings
        if s.ab_kernel is None:
            return None
        name = self.profile_name(profile)
        if name not in self._ab_guests:
            cmdline = " ".join(w for w in (s.cmdline, s.ab_cmdline) if w)
            self._ab_guests[name] = resolve(s.ab_kernel, s.ab_initrd, None, cmdline, self.profiles[name])
        return self._ab_guests[name]

    def close(self) -> None:
        self.conns.close()


SESSION_KEY = pytest.StashKey[HermitSession]()
#: Outcome of a test's call phase, for fixtures that keep artifacts only on failure.
OUTCOME_KEY = pytest.StashKey[str]()


def session_of(config: pytest.Config) -> HermitSession:
    return config.stash[SESSION_KEY]
