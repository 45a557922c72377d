"""Dump both sides of every A/B comparison (A is not in the plugin's JSON report)."""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from pytest_hermit.plugin.session import SESSION_KEY


def _order(seed: int, pairs: int) -> list[str]:
    """The A/B order call.py drew: one shuffle of [A, B] per pair, from Random(seed)."""
    rng = random.Random(seed)
    out = []
    for _ in range(pairs):
        order = ["A", "B"]
        rng.shuffle(order)
        out.append("".join(order))
    return out


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("HERMIT_AB_DUMP")
    hermit = session.config.stash.get(SESSION_KEY, None)
    if not target or hermit is None:
        return
    runs: list[dict[str, Any]] = []
    for judged in hermit.gate.judged:
        m = judged.measurement
        runs.append(
            {
                "test": m.test_id,
                "env": m.env,
                "boots": m.boots,
                "reps": m.reps,
                "order": _order(hermit.settings.ab_seed, m.boots),
                "transcripts_b": [str(p) for p in m.transcripts],
                "metrics": {
                    name: {
                        "unit": s.unit,
                        "a": [list(b) for b in judged.references[name].per_boot],
                        "b": [list(b) for b in s.per_boot],
                    }
                    for name, s in m.samples.items()
                    if name in judged.references
                },
                "verdicts": {c.metric: c.verdict.name.lower() for c in judged.comparisons},
            }
        )
    doc = {"seed": hermit.settings.ab_seed, "ab_cmdline": hermit.settings.ab_cmdline, "runs": runs}
    with open(target, "w") as f:
        json.dump(doc, f, indent=1)
