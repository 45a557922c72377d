"""Where the plugin keeps its per-session and per-test state (pytest's stash)."""

from __future__ import annotations

import pytest

from pytest_hermit.session import HermitSession

SESSION_KEY = pytest.StashKey[HermitSession]()
#: Outcome of a test's call phase, for fixtures that keep artifacts only on failure.
OUTCOME_KEY = pytest.StashKey[str]()


def session_of(config: pytest.Config) -> HermitSession:
    return config.stash[SESSION_KEY]
