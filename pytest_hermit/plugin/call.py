"""One ``hermit_run`` call: boot, then judge against a baseline or an interleaved B image.

Plain runs just boot. With --hermit-compare the measurement is judged against
the saved baseline. With --hermit-ab, image A (the usual guest) and image B
boot in pairs whose order is drawn at random, so drift and noisy neighbours
hit both alike, and B is judged against A as pairs: boot i of A with boot i
of B (docs/statistics.md, "Paired A/B runs"); undecided runs add pairs.
"""

from __future__ import annotations

import random
from dataclasses import replace

from pytest_hermit.gate.judge import Judged
from pytest_hermit.plugin.outcomes import classify
from pytest_hermit.plugin.session import HermitSession
from pytest_hermit.results.measurement import Measurement
from pytest_hermit.results.samples import Samples
from pytest_hermit.vm.guest import GuestImage
from pytest_hermit.vm.runner import Progress, RunRequest, run


def measure(session: HermitSession, req: RunRequest, progress: Progress) -> tuple[Measurement, Judged | None]:
    """The measurement (with any boots added while undecided) and its judgement, if any."""
    guest_b = session.ab_guest_for(req.guest.profile.name)
    if guest_b is not None:
        return _measure_ab(session, req, guest_b, progress)
    gate = session.gate
    try:
        measurement = run(session.conns, req, progress)
    except Exception as exc:
        gate.withhold(req.test_id, req.env.name, req.run or req.workload, _why(exc))
        raise
    if not gate.active:
        return measurement, None
    context = session.context(req.env, measurement)
    booted = req.boots

    def more(boots: int) -> Measurement:
        nonlocal booted
        extra = run(session.conns, replace(req, boots=boots, first_boot=booted + 1), progress)
        booted += boots
        return extra

    judged = None
    if gate.settings.compare:
        try:
            judged = gate.judge(measurement, context, more)
        except Exception as exc:  # refused, or a boot added while undecided broke: nothing to save
            gate.withhold(req.test_id, req.env.name, req.run or req.workload, _why(exc))
            raise
        measurement = judged.measurement
    if gate.settings.save:
        gate.keep(measurement, context, judged)
    return measurement, judged


def _why(error: Exception) -> str:
    """Why a measurement was not saved: its failure kind and the first line of the error."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{classify(error).value}: {first}"


def _measure_ab(
    session: HermitSession, req: RunRequest, guest_b: GuestImage, progress: Progress
) -> tuple[Measurement, Judged]:
    rng = random.Random(session.settings.ab_seed)
    side_a = replace(req, boots=1, label="A", planned=req.boots, transcript_dir=req.transcript_dir / "A")
    side_b = replace(req, boots=1, label="B", planned=req.boots, guest=guest_b, transcript_dir=req.transcript_dir / "B")
    runs: dict[str, Measurement | None] = {"A": None, "B": None}
    done = 0

    def pairs(boots: int) -> None:
        nonlocal done
        for _ in range(boots):
            done += 1
            order = [("A", side_a), ("B", side_b)]
            rng.shuffle(order)
            for label, side in order:
                one = run(session.conns, replace(side, first_boot=done, planned=max(done, req.boots)), progress)
                previous = runs[label]
                runs[label] = one if previous is None else previous.merged(one)

    pairs(req.boots)

    def more(boots: int) -> Measurement:
        before = runs["B"]
        assert before is not None
        pairs(boots)
        after = runs["B"]
        assert after is not None
        return _tail(after, before.boots)

    def pairs_of(current: Measurement) -> list[tuple[Samples, Samples]]:
        reference = runs["A"]
        assert reference is not None
        return [(reference[m], current[m]) for m in current.samples if m in reference.samples]

    b = runs["B"]
    assert b is not None
    judged = session.gate.judge_pairs(b, pairs_of, more, paired=True)
    judged.reference_profile = runs["A"].profile if runs["A"] is not None else None
    return judged.measurement, judged


def _tail(measurement: Measurement, skip: int) -> Measurement:
    """The boots after the first ``skip`` (what ``more`` adds to an earlier measurement)."""
    samples = {name: Samples(name, s.unit, s.per_boot[skip:], s.direction) for name, s in measurement.samples.items()}
    # The profile sums every boot and cannot be split: the first boots' profile stands for the run.
    return replace(
        measurement,
        samples=samples,
        boots=measurement.boots - skip,
        transcripts=measurement.transcripts[skip:],
        profile=None,
    )
