"""The regression gate: measurements against a named baseline, and saving new ones.

Pure pieces (tolerances, verdict selection) are plain functions; the Gate
object holds the session's baseline and what it will save, and does the file
I/O through ``baselines``. Parsing the tolerance options is the options'
job (``pytest_hermit.plugin.options``), the host fingerprint the probes'
(``pytest_hermit.vm.fingerprint``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pytest_hermit.errors import ConfigError, HermitError, NotComparable
from pytest_hermit.gate import baselines as bl
from pytest_hermit.gate import stats
from pytest_hermit.profile import diff as profile_diff
from pytest_hermit.profile.profile import FunctionProfile
from pytest_hermit.results.measurement import HOST_MEASURED, Measurement
from pytest_hermit.results.samples import Samples

DEFAULT_TOLERANCE = 0.05

T = TypeVar("T")


class Regression(HermitError, AssertionError):
    """A measurement is worse than its baseline (or undecided, under --hermit-fail-on=inconclusive)."""


def exact_metrics(counted: bool) -> Callable[[Samples], bool] | None:
    """Which metrics may be exact: those the guest counted (icount), never what the host timed."""
    if not counted:
        return None
    return lambda samples: samples.metric not in HOST_MEASURED


Pair = tuple[Samples, Samples]


def untimeable(pairs: list[Pair], counted: bool) -> list[str]:
    """Under icount, host-timed metrics with one boot a side: the statistics cannot judge them.

    Left out of the family rather than refusing it: the host's clock is never
    exact, and refusing the whole family for it would throw away the exact
    verdicts of the metrics the guest counted.
    """
    if not counted:
        return []
    return [cur.metric for ref, cur in pairs if cur.metric in HOST_MEASURED and min(ref.boots, cur.boots) < 2]


def judge_family(
    pairs: list[Pair],
    tolerance_for: Callable[[Samples], float],
    *,
    counted: bool,
    strict: bool = False,
    paired: bool = False,
    confidence: float = stats.DEFAULT_CONFIDENCE,
) -> list[stats.Comparison]:
    """The verdicts of one family (the metrics of one hermit_run call), the one way everything judges.

    The gate, ``pytest-hermit compare`` and (through the gate's reports)
    branches, bisect and history all reach their verdicts here or in the
    gate's adaptive form of it (:meth:`Gate.judge_pairs`), with the same
    exactness and tolerances. ``pairs`` should not hold :func:`untimeable` ones.
    """
    return stats.judge_all(
        pairs, tolerance_for, confidence=confidence, strict=strict, paired=paired, exact_for=exact_metrics(counted)
    )


@dataclass(frozen=True)
class Tolerances:
    """Tolerance per metric and environment.

    Looked up in this order: the environment's table for the metric, the
    metric's own (``[tool.hermit.tolerance] getpid = 10``: a metric the user
    named wins over any default), the environment's own default
    (``default`` in its table, else the environment's built-in one: icount's
    exact numbers have 0.5%), then the default. A default the user gave
    (``--hermit-tolerance`` or its ini twin) replaces the built-in ones: the
    command line says what this run wants.
    """

    default: float = DEFAULT_TOLERANCE
    per_metric: Mapping[str, float] = field(default_factory=dict)
    per_env: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    env_default: Mapping[str, float] = field(default_factory=dict)
    #: ``default`` came from --hermit-tolerance (or hermit_tolerance), not from the built-in value.
    default_given: bool = False

    def of(self, env: str, metric: str) -> float:
        env_table = self.per_env.get(env, {})
        if metric in env_table:
            return env_table[metric]
        if metric in self.per_metric:
            return self.per_metric[metric]
        return self.env_default.get(env, self.default)

    def with_env_defaults(self, defaults: Mapping[str, float]) -> Tolerances:
        """These tolerances with environments' built-in defaults where the user set none."""
        if self.default_given:
            return self
        merged = {**defaults, **self.env_default}
        return replace(self, env_default=merged)


@dataclass(frozen=True)
class GateSettings:
    save: str | None = None
    compare: str | None = None
    baseline_dir: Path = Path(".hermit/baselines")
    tolerances: Tolerances = field(default_factory=Tolerances)
    fail_on: frozenset[stats.Verdict] = frozenset({stats.Verdict.REGRESSION})
    max_boots: int | None = None
    allow_foreign: bool = False
    #: --hermit-strict: a regression needs the interval above the tolerance (docs/statistics.md).
    strict: bool = False


@dataclass
class Judged:
    """One measurement's comparisons, kept for the summary and the reports."""

    measurement: Measurement
    comparisons: list[stats.Comparison]
    #: The reference samples (baseline entry, or image A) per metric.
    references: dict[str, Samples] = field(default_factory=dict)
    #: --hermit-profile: the reference's instructions per function (baseline entry, or image A), if kept.
    reference_profile: FunctionProfile | None = None

    def profile_lines(self, limit: int | None = 20) -> list[str]:
        """Functions whose instructions changed against the reference, largest increase first; [] without profiles."""
        if self.reference_profile is None or self.measurement.profile is None:
            return []
        rows = profile_diff.changes(self.reference_profile, self.measurement.profile)
        return profile_diff.table(rows, exact=self.measurement.counted, limit=limit)


@dataclass(frozen=True)
class Withheld:
    """A measurement --hermit-save did not save, and why (said in the terminal summary)."""

    test: str
    env: str
    #: The hermit_run call's identity (measurement.run).
    run: str
    #: "regression: getpid regressed (+60.2%)", "refused: ...", "broken run: ...".
    reason: str

    def line(self) -> str:
        return f"{self.test} {self.run}: {self.reason}"


def failed_verdicts(judged: Judged, fail_on: frozenset[stats.Verdict]) -> list[stats.Comparison]:
    """The comparisons whose verdict fails the test under --hermit-fail-on."""
    return [c for c in judged.comparisons if c.verdict in fail_on]


def missing_metrics(baseline: bl.Baseline, measurement: Measurement) -> list[str]:
    """The metrics the baseline holds for this hermit_run call that the measurement lacks."""
    call = (measurement.test_id, measurement.env, measurement.run)
    return sorted(
        metric
        for (test, env, run, metric) in baseline.entries
        if (test, env, run) == call and metric not in measurement.samples
    )


def _observed_once(pairs: list[tuple[Samples, Samples]]) -> bool:
    """Some side holds a single value: nothing says whether the metric varies or not."""
    return any(len(side.values) < 2 for pair in pairs for side in pair)


class Gate:
    """The session's baseline comparisons and the entries it will save."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.baseline: bl.Baseline | None = None
        self.judged: list[Judged] = []
        self._to_save: dict[bl.Key, bl.Entry] = {}
        #: Measurements --hermit-save left out because their comparison failed, was refused or broke.
        self.withheld: list[Withheld] = []
        #: Lines for the summary: how a verdict was reached where that is not what the user expects.
        self.notes: list[str] = []
        self._noted: set[str] = set()

    @property
    def active(self) -> bool:
        """A baseline is saved or compared with (A/B runs compare without one)."""
        return bool(self.settings.save or self.settings.compare)

    def load(self) -> None:
        """Load the baseline to compare with, before any VM boots (a bad file stops the run early)."""
        if self.settings.compare:
            path = bl.path_for(self.settings.baseline_dir, self.settings.compare)
            if not path.exists():
                known = bl.list_names(self.settings.baseline_dir) if self.settings.baseline_dir.is_dir() else []
                raise ConfigError(
                    f"--hermit-compare: no baseline {self.settings.compare!r} ({path} missing); "
                    f"saved: {', '.join(known) or 'none'}; record one with --hermit-save={self.settings.compare}"
                )
            self.baseline = bl.load(path)

    def refuse(self, measurement: Measurement, context: bl.Context) -> None:
        assert self.baseline is not None
        gone = missing_metrics(self.baseline, measurement)
        if gone:
            pronoun = "it" if len(gone) == 1 else "them"
            measured = ", ".join(measurement.samples) or "nothing"
            raise NotComparable(
                f"baseline {self.settings.compare!r} holds {', '.join(gone)} for this run, but the guest no longer "
                f"printed {pronoun} (measured: {measured}); "
                "a benchmark that stopped running is not a pass: fix the guest, or record the baseline again "
                f"(--hermit-save={self.settings.compare} without --hermit-compare) if it was dropped on purpose"
            )
        for metric in measurement.samples:
            reason = bl.refusal(
                self.baseline,
                measurement.test_id,
                measurement.env,
                measurement.run,
                metric,
                context,
                allow_foreign=self.settings.allow_foreign,
            )
            if reason:
                hint = " (--hermit-allow-foreign-baseline compares anyway)" if "host" in reason else ""
                raise NotComparable(reason + hint)

    def pairs(self, measurement: Measurement) -> list[tuple[Any, Any]]:
        assert self.baseline is not None
        out = []
        for metric, current in measurement.samples.items():
            entry = self.baseline.get(measurement.test_id, measurement.env, measurement.run, metric)
            assert entry is not None
            out.append((entry.samples, current))
        return out

    def judge(
        self,
        measurement: Measurement,
        context: bl.Context,
        more: Callable[[int], Measurement],
    ) -> Judged:
        """Compare with the baseline, adding boots while undecided (--hermit-max-boots).

        The result holds the measurement with any added boots; ``enforce``
        then fails the test when a verdict in --hermit-fail-on was reached.
        """
        self.refuse(measurement, context)
        judged = self.judge_pairs(measurement, self.pairs, more)
        assert self.baseline is not None
        for metric in measurement.samples:
            entry = self.baseline.get(measurement.test_id, measurement.env, measurement.run, metric)
            if entry is not None and entry.profile is not None:
                judged.reference_profile = entry.profile
                break
        return judged

    def judge_pairs(
        self,
        measurement: Measurement,
        pairs_of: Callable[[Measurement], list[tuple[Any, Any]]],
        more: Callable[[int], Measurement],
        *,
        paired: bool = False,
    ) -> Judged:
        """The statistics (docs/design.md, docs/statistics.md) on (reference, current) pairs, with adaptive boots.

        ``paired``: reference boot i and current boot i were booted as a pair
        (A/B runs); ``more`` then adds pairs.
        """
        tolerances = self.settings.tolerances
        env = measurement.env

        def tolerance_for(samples: Any) -> float:
            return tolerances.of(env, samples.metric)

        max_boots = self.settings.max_boots
        strict = self.settings.strict
        counted = measurement.counted
        exact_for = exact_metrics(counted)
        if counted:
            pairs_of = self._without_untimeable(measurement, pairs_of)
        if not pairs_of(measurement):
            comparisons: list[stats.Comparison] = []
        elif max_boots and max_boots > measurement.boots:
            initial = measurement.boots
            while True:
                step = self._statistics(
                    measurement,
                    pairs_of,
                    lambda m: stats.next_step_all(
                        pairs_of(m),
                        tolerance_for,
                        initial_boots=initial,
                        max_boots=max_boots,
                        strict=strict,
                        paired=paired,
                        exact_for=exact_for,
                    ),
                )
                if step.done:
                    comparisons = list(step.comparisons)
                    break
                measurement = measurement.merged(more(step.add_boots))
        else:
            comparisons = self._statistics(
                measurement,
                pairs_of,
                lambda m: judge_family(pairs_of(m), tolerance_for, counted=counted, strict=strict, paired=paired),
            )
        judged = Judged(
            measurement,
            comparisons,
            {c.metric: ref for (ref, _), c in zip(pairs_of(measurement), comparisons, strict=True)},
        )
        if exact_for is not None:
            self._note_varied(measurement, comparisons)
        self.judged.append(judged)
        return judged

    def _without_untimeable(
        self, measurement: Measurement, pairs_of: Callable[[Measurement], list[tuple[Any, Any]]]
    ) -> Callable[[Measurement], list[tuple[Any, Any]]]:
        """Under icount, the pairs without host-timed metrics too small for the statistics.

        The host's clock is never exact; with one boot a side the statistics
        cannot judge it, and refusing the whole family for it would throw
        away the exact verdicts of the metrics the guest counted.
        """

        def pairs(m: Measurement) -> list[tuple[Any, Any]]:
            every = pairs_of(m)
            left_out = untimeable(every, counted=True)
            for metric in left_out:
                self._note_once(
                    f"hermit: {m.env}: {metric} of {m.test_id or m.run} not judged: the host timed it, "
                    "and one boot a side cannot show its noise (the guest's counted metrics were judged); "
                    "give it 2 or more boots to judge it"
                )
            return [(ref, cur) for ref, cur in every if cur.metric not in left_out]

        return pairs

    def _note_varied(self, measurement: Measurement, comparisons: list[stats.Comparison]) -> None:
        """Say once per environment and metric that a counted metric varied and was judged by the statistics."""
        for c in comparisons:
            if c.method == stats.EXACT or c.metric in HOST_MEASURED:
                continue
            more = (
                f"--hermit-max-boots={self.settings.max_boots} adds boots while it is undecided"
                if self.settings.max_boots
                else "--hermit-max-boots=N adds boots while it is undecided"
            )
            self._note_once(
                f"hermit: {measurement.env}: {c.metric} varied between boots or repetitions although the environment "
                f"counts instructions (first seen in {measurement.test_id or measurement.run}): judged by the "
                f"statistics, not exactly; {more}",
                key=f"varied {measurement.env} {c.metric}",
            )

    def _note_once(self, text: str, key: str | None = None) -> None:
        key = key or text
        if key not in self._noted:
            self._noted.add(key)
            self.notes.append(text)

    def _statistics(
        self,
        measurement: Measurement,
        pairs_of: Callable[[Measurement], list[tuple[Any, Any]]],
        compute: Callable[[Measurement], T],
    ) -> T:
        """Run the statistics; numbers they cannot compare are a refusal (exit 7), not a crash (exit 1).

        stats raises ValueError naming the side and metric for a baseline of
        one boot, a median that is not positive, or a changed unit.
        """
        try:
            return compute(measurement)
        except ValueError as exc:
            name = self.settings.compare if self.baseline is not None else None
            against = f"baseline {name!r}" if name else "image A"
            record = f"record the baseline again (--hermit-save={name} without --hermit-compare)" if name else ""
            text = str(exc)
            if "1 boot" in text and measurement.counted and _observed_once(pairs_of(measurement)):
                redo = (
                    "one value a side cannot show that a metric is exact (one value always equals itself): "
                    "give both sides at least 2 boots (icount's default) or 2 repetitions"
                    + (f", and {record}" if name else "")
                )
            elif "1 boot" in text and measurement.counted:
                redo = (
                    "these numbers vary although the environment counts instructions (a guest that is not "
                    "deterministic, e.g. a Linux kernel): give it --hermit-boots=10 so the statistics can judge them"
                    + (f", and {record}" if name else "")
                )
            elif "1 boot" in text:
                side = "baseline" if text.startswith("baseline") else "current"
                redo = (
                    f"{record} with --hermit-boots of at least 2 (10 or more recommended)"
                    if side == "baseline" and name
                    else "give this run at least 2 boots (--hermit-boots, or hermit_run(boots=...))"
                )
            elif "not positive" in text:
                redo = "a metric whose value can be 0 cannot be judged by relative change: fix the guest's output"
            elif "mismatch" in text:
                redo = f"the metric changed its unit or direction since the baseline: {record or 'rebuild image A'}"
            else:
                redo = record or "check image A's output"
            raise NotComparable(
                f"{against}, test {measurement.test_id or '?'} run {measurement.run!r} on {measurement.env}: "
                f"the statistics cannot compare these numbers: {text}. What to do: {redo}"
            ) from None

    def enforce(self, judged: Judged) -> None:
        """Fail the test when a verdict in --hermit-fail-on was reached."""
        failed = failed_verdicts(judged, self.settings.fail_on)
        if failed:
            lines = [c.message(judged.measurement.env) for c in failed]
            raise Regression("\n".join(lines + judged.profile_lines()))

    def reference_samples(self, measurement: Measurement, metric: str) -> Samples | None:
        """The samples a measurement's metric was judged against (for plots)."""
        for judged in self.judged:
            if judged.measurement is measurement:
                return judged.references.get(metric)
        return None

    def keep(self, measurement: Measurement, context: bl.Context, judged: Judged | None = None) -> None:
        """Queue a measurement for --hermit-save, unless its comparison failed.

        After a comparison only a measurement whose verdicts all passed is
        saved: saving a regression to the baseline it was compared with would
        move the baseline to the slower numbers and let the next run pass.
        The whole measurement is held back (its metrics are one family), and
        the reason is kept for the summary. Without a comparison (--hermit-save
        alone) every measurement is saved: that is how numbers are accepted
        deliberately.
        """
        if judged is not None:
            failed = failed_verdicts(judged, self.settings.fail_on)
            if failed:
                what = ", ".join(f"{c.metric} {c.verdict.word} ({c.change * 100:+.1f}%)" for c in failed)
                verdicts = "/".join(sorted({c.verdict.name.lower() for c in failed}))
                self.withhold(measurement.test_id, measurement.env, measurement.run, f"{verdicts}: {what}")
                return
        for samples in measurement.samples.values():
            entry = bl.Entry(
                measurement.test_id, measurement.env, samples, context, measurement.run, measurement.profile
            )
            self._to_save[entry.key] = entry

    def pending(self) -> list[bl.Entry]:
        """The entries --hermit-save will save at the end of the run."""
        return list(self._to_save.values())

    def add_pending(self, entries: list[bl.Entry]) -> None:
        """Queue entries measured elsewhere (a pytest-xdist worker) for this gate's one save."""
        for entry in entries:
            self._to_save[entry.key] = entry

    def discard_pending(self) -> int:
        """Save nothing at the end of the run; how many entries were queued (pytest-xdist lost a worker's part)."""
        dropped = len(self._to_save)
        self._to_save.clear()
        return dropped

    def withhold(self, test: str, env: str, run: str, reason: str) -> None:
        """Note a measurement that --hermit-save will not save (only when saving)."""
        if self.settings.save:
            self.withheld.append(Withheld(test, env, run, reason))

    def withheld_lines(self) -> list[str]:
        """The summary's account of what was not saved, and how to accept it deliberately."""
        if not self.withheld:
            return []
        name = self.settings.save
        count = len(self.withheld)
        lines = [f"hermit: not saved to baseline {name!r} ({count} measurement(s); their entries stay as they were):"]
        lines += [f"hermit:   {w.line()}" for w in self.withheld]
        lines.append(
            f"hermit: to accept such numbers deliberately, run again with --hermit-save={name} "
            "and without --hermit-compare (every measurement that completes is then saved)"
        )
        return lines

    def save(self) -> Path | None:
        if not self.settings.save or not self._to_save:
            return None
        path = bl.path_for(self.settings.baseline_dir, self.settings.save)
        bl.save_merge(path, self._to_save.values())
        return path

    def finish(self) -> tuple[bool, list[str]]:
        """Save the baseline at the end of the run: False if saving failed, and lines for the summary.

        The lines say where the baseline went, or why it could not be saved,
        and which measurements were withheld from it.
        """
        ok, notes = True, []
        try:
            saved = self.save()
        except (OSError, HermitError) as exc:
            notes.append(f"hermit: ERROR: could not save the baseline: {exc}")
            saved, ok = None, False
        if saved is not None:
            notes.append(f"hermit: saved baseline {self.settings.save!r} to {saved}")
        notes.extend(self.withheld_lines())
        return ok, notes
