"""The bisection's search on plain data: a fake probe knows the truth; found in about log2(n) steps."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection

import pytest

from pytest_hermit.bisect.search import (
    Among,
    BadUnjudged,
    FirstBad,
    Mark,
    NotSlower,
    Outcome,
    Probe,
    bisect,
    left,
    marked,
    next_step,
    start,
    steps_left,
)

GOOD = "g"


def commits(n: int) -> tuple[str, ...]:
    return tuple(f"c{i}" for i in range(n))


def truth(candidates: tuple[str, ...], culprit: int | None, skipped: Collection[int] = ()) -> Callable[[str], Mark]:
    """A probe: candidates from ``culprit`` on are slower, ``skipped`` ones cannot be judged (None: none is slower)."""

    def probe(commit: str) -> Mark:
        i = candidates.index(commit)
        if i in skipped:
            return Mark.SKIP
        return Mark.BAD if culprit is not None and i >= culprit else Mark.GOOD

    return probe


def run(n: int, culprit: int | None, skipped: Collection[int] = ()) -> tuple[Outcome, list[str]]:
    candidates = commits(n)
    probed: list[str] = []
    probe = truth(candidates, culprit, skipped)

    def counting(commit: str) -> Mark:
        probed.append(commit)
        return probe(commit)

    outcome, _ = bisect(start(GOOD, candidates), counting)
    return outcome, probed


@pytest.mark.parametrize("n", [*range(1, 18), 31, 32, 33, 100])
def test_every_culprit_is_found_in_about_log2_n_probes(n: int) -> None:
    bound = math.ceil(math.log2(n)) + 1  # BAD first, then a binary search over n possible answers
    for culprit in range(n):
        outcome, probed = run(n, culprit)
        parent = GOOD if culprit == 0 else f"c{culprit - 1}"
        assert outcome == FirstBad(f"c{culprit}", parent), (n, culprit)
        assert len(probed) <= bound, (n, culprit, probed)
        assert len(set(probed)) == len(probed), "no commit is judged twice"


def test_bad_is_judged_first_then_the_middle() -> None:
    search = start(GOOD, commits(7))
    assert next_step(search) == Probe("c6")
    search = marked(search, "c6", Mark.BAD)
    assert next_step(search) == Probe("c2")  # c0..c5 to judge before BAD: the older of the two middles
    assert (left(search), steps_left(search)) == (6, 3)


def test_bad_not_slower_ends_after_one_probe() -> None:
    outcome, probed = run(10, None)
    assert outcome == NotSlower()
    assert probed == ["c9"]


def test_bad_that_cannot_be_judged_ends_the_search() -> None:
    outcome, probed = run(10, 3, skipped={9})
    assert outcome == BadUnjudged("c9")
    assert probed == ["c9"]


def test_a_skip_after_the_culprit_costs_one_probe_and_changes_nothing() -> None:
    # The end-to-end repository's shape: c1 slows it, c2 does not build (c3 fixes it), BAD = c5.
    outcome, probed = run(6, 1, skipped={2})
    assert outcome == FirstBad("c1", "c0")
    assert probed == ["c5", "c2", "c1", "c0"]


@pytest.mark.parametrize(
    ("skipped", "expected"),
    [
        ({4}, Among(("c4", "c5"), "c3")),  # the commit just before the culprit: either could be it
        ({3, 4}, Among(("c3", "c4", "c5"), "c2")),
        ({5}, Among(("c5", "c6"), "c4")),  # the culprit itself: it or the next judgeable one
        ({5, 6}, Among(("c5", "c6", "c7"), "c4")),
        ({6}, FirstBad("c5", "c4")),  # after the culprit: found all the same
        ({0, 1, 2}, FirstBad("c5", "c4")),  # far before it: found all the same
    ],
)
def test_skips_around_the_culprit(skipped: set[int], expected: Outcome) -> None:
    outcome, _ = run(12, 5, skipped)
    assert outcome == expected


def test_every_candidate_but_bad_skipped_leaves_all_of_them() -> None:
    outcome, probed = run(6, 2, skipped={0, 1, 2, 3, 4})
    assert outcome == Among(commits(6), GOOD)
    assert sorted(probed) == sorted(commits(6))


def test_the_culprit_first_and_skipped_is_among_the_first_two() -> None:
    outcome, _ = run(5, 0, skipped={0})
    assert outcome == Among(("c0", "c1"), GOOD)


@pytest.mark.parametrize("n", range(1, 9))
def test_every_skip_pattern_gives_the_smallest_range_the_verdicts_allow(n: int) -> None:
    """Exhaustively: the answer is everything between the last judgeable good and the first judgeable bad."""
    for culprit in range(n):
        for size in range(n):
            for skipped in itertools.combinations(range(n - 1), size):  # BAD itself always judged here
                outcome, probed = run(n, culprit, set(skipped))
                judgeable_before = [i for i in range(culprit) if i not in skipped]
                first_judgeable_bad = min(i for i in range(culprit, n) if i not in skipped)
                lo = max(judgeable_before, default=-1)
                last_good = GOOD if lo < 0 else f"c{lo}"
                span = commits(n)[lo + 1 : first_judgeable_bad + 1]
                expected: Outcome = FirstBad(span[0], last_good) if len(span) == 1 else Among(span, last_good)
                assert outcome == expected, (n, culprit, skipped, probed)
                assert len(probed) <= math.ceil(math.log2(n)) + 1 + len(skipped), (n, culprit, skipped, probed)


def test_a_skipped_middle_moves_the_search_to_a_neighbour() -> None:
    candidates = commits(9)
    search = marked(start(GOOD, candidates), "c8", Mark.BAD)
    assert next_step(search) == Probe("c3")  # c0..c7 to judge: c3 and c4 are the middles, the older wins
    search = marked(search, "c3", Mark.SKIP)
    assert next_step(search) == Probe("c4")  # c0 c1 c2 c4 c5 c6 c7
    search = marked(search, "c4", Mark.SKIP)
    assert next_step(search) == Probe("c2")  # c0 c1 c2 c5 c6 c7
    assert (left(search), steps_left(search)) == (6, 3)


def test_misuse_is_an_error_that_says_what() -> None:
    with pytest.raises(ValueError, match="at least one commit"):
        start(GOOD, ())
    with pytest.raises(ValueError, match="distinct"):
        start(GOOD, ("a", "a"))
    with pytest.raises(ValueError, match="distinct"):
        start(GOOD, ("a", GOOD))
    search = start(GOOD, commits(3))
    with pytest.raises(ValueError, match="x is not a candidate"):
        marked(search, "x", Mark.BAD)
    with pytest.raises(ValueError, match="already judged bad"):
        marked(marked(search, "c2", Mark.BAD), "c2", Mark.GOOD)
