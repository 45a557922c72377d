"""Host hygiene in a session: one preflight per host before its first measurement, its warning, its line.

Glue between ``vm/hygiene.py`` (reading) and ``gate/hygiene.py`` (what the
readings mean): asked once per host (the resolved libvirt URI, so two
environments on one host share it), shown in the summary, recorded in the
baseline context. A busy host is a warning, or with
``--hermit-require-quiet-host`` a broken run (exit 6: retry on a quiet
host). Not a pytest warning: a project that turns warnings into errors (as
this one does) would make every test on a busy CI host fail without asking.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_hermit.errors import RunError
from pytest_hermit.gate.hygiene import REMOTE_UNSEEN, HostState
from pytest_hermit.vm.connections import Connections
from pytest_hermit.vm.environments import Environment
from pytest_hermit.vm.hygiene import is_this_machine, read_local, read_remote

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
