"""A/B runs are judged as pairs: call._measure_ab with a fake boot (no VM)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from pytest_hermit.gate.judge import Gate, GateSettings
from pytest_hermit.gate.stats import Verdict
from pytest_hermit.plugin import call
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.runner import RunRequest


class FakeBoots:
    """One boot per call: a drift shared by the two boots of pair k, B slower by ``factor``."""

    def __init__(self, factor: float, seed: int, own: float = 0.02) -> None:
        self.factor = factor
        self.own = own
        self.rng = np.random.default_rng(seed)
        self.drift: dict[int, float] = {}
        self.log: list[tuple[str, int]] = []

    def __call__(self, _conns: object, req: RunRequest, _progress: object) -> Measurement:
        assert req.boots == 1
        pair = req.first_boot
        self.log.append((req.label, pair))
        drift = self.drift.setdefault(pair, float(self.rng.normal(0, 0.4)))
        centre = (
            9.0 * math.exp(drift + float(self.rng.normal(0, self.own))) * (self.factor if req.label == "B" else 1.0)
        )
        values = [centre * float(np.exp(self.rng.normal(0, 0.02))) for _ in range(5)]
        s = Samples.of("getpid", "cycles", [values])
        return Measurement(env="qemu", workload="basic", samples={"getpid": s}, boots=1, reps=5, cmdline="")


def _run_ab(monkeypatch: pytest.MonkeyPatch, fake: FakeBoots, settings: GateSettings, boots: int) -> tuple[Any, Gate]:
    monkeypatch.setattr(call, "run", fake)
    gate = Gate(settings)
    session = SimpleNamespace(settings=SimpleNamespace(ab_seed=3), conns=None, gate=gate)
    req = RunRequest(
        env=cast(Any, None),
        guest=cast(Any, None),
        workload="basic",
        boots=boots,
        reps=5,
        extra_cmdline="",
        timeout=10.0,
        transcript_dir=Path("unused"),
    )
    _, judged = call._measure_ab(cast(Any, session), req, cast(Any, object()), cast(Any, None))
    return judged, gate


def test_ab_boots_are_judged_as_pairs_and_a_drift_shared_by_each_pair_cancels(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBoots(1.15, seed=5)
    judged, _ = _run_ab(monkeypatch, fake, GateSettings(), 8)
    c = judged.comparisons[0]
    assert c.method == "paired" and c.verdict is Verdict.REGRESSION
    assert c.current_boots == c.baseline_boots == 8
    # each pair is booted back to back, in a drawn order
    assert [sorted(fake.log[i : i + 2]) for i in range(0, 16, 2)] == [[("A", k), ("B", k)] for k in range(1, 9)]
    assert {fake.log[i][0] for i in range(0, 16, 2)} == {"A", "B"}


def test_undecided_ab_runs_add_pairs_at_the_planned_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBoots(1.03, seed=6, own=0.1)
    judged, _ = _run_ab(monkeypatch, fake, GateSettings(max_boots=20), 4)
    c = judged.comparisons[0]
    assert c.method == "paired"
    assert judged.measurement.boots == c.baseline_boots == c.current_boots
    assert len(fake.log) == 2 * judged.measurement.boots
    assert judged.measurement.boots in (12, 20)  # undecided at 4 pairs: pairs were added
