"""State of one pytest session: settings, environments, connections, results.

Kept in ``config.stash`` (never in globals), created at configure time and
closed at unconfigure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_hermit.connections import Connections
from pytest_hermit.environments import Environment, load_registry, select
from pytest_hermit.errors import ConfigError
from pytest_hermit.guest import GuestImage, resolve
from pytest_hermit.measurement import Measurement
from pytest_hermit.options import Settings
from pytest_hermit.probes import Availability, kvm_usable_locally, probe


class HermitSession:
    """One run of the plugin."""

    def __init__(self, settings: Settings, registry: dict[str, Environment], selected: list[Environment]) -> None:
        self.settings = settings
        self.registry = registry
        self.selected = selected
        self.conns = Connections(settings.state_dir)
        self.measurements: list[Measurement] = []
        self.broken: list[str] = []
        self._availability: dict[str, Availability] = {}
        self._guest: GuestImage | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> HermitSession:
        settings = Settings.from_config(config)
        pyproject = Path(str(config.rootpath)) / "pyproject.toml"
        try:
            registry = load_registry(pyproject)
            if settings.env_spec is not None:
                source = "--hermit-env" if config.getoption("hermit_env") else f"ini hermit_env ({config.inipath})"
                selected = select(settings.env_spec, registry, source)
            else:
                selected = [registry["kvm" if kvm_usable_locally() else "qemu"]]
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None
        if settings.libvirt_uri:
            selected = [replace(env, uri=settings.libvirt_uri) for env in selected]
        return cls(settings, registry, selected)

    def environment(self, name: str) -> Environment:
        for env in self.selected:
            if env.name == name:
                return env
        return self.registry[name]

    def availability(self, env: Environment) -> Availability:
        """The probe's answer for ``env``, asked once per session."""
        if env.name not in self._availability:
            self._availability[env.name] = probe(env, self.conns)
        return self._availability[env.name]

    @property
    def guest(self) -> GuestImage:
        if self._guest is None:
            s = self.settings
            self._guest = resolve(s.kernel, s.initrd, s.iso, s.cmdline)
        return self._guest

    def close(self) -> None:
        self.conns.close()
