"""The bisection's search: which commit to judge next, and when the first slow one is known.

Plain data in, plain data out; the probing itself (build, boot, judge) is the
caller's. The candidates are the commits of GOOD..BAD on BAD's first-parent
line, oldest first, so the last one is BAD. Each is judged against GOOD:

* ``GOOD``: not slower than GOOD;
* ``BAD``: slower (a metric regressed);
* ``SKIP``: could not be judged (its build failed, or the comparison was
  undecided), as ``git bisect skip``.

As with ``git bisect``, the search assumes that once a commit is slower,
every later one is: it keeps the last good and the first bad candidate and
judges one between them. BAD is judged first (is there anything to find?),
then the middle one of the candidates still to be judged between the two
bounds, skipped ones left out: a skipped middle makes the search try a
neighbour, as ``git bisect`` does (git picks one near the middle
pseudo-randomly; this picks the older of two middles, so two runs of a
bisection agree). Counting only the commits still to be judged keeps every
step a halving of the answers still possible, however many were skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Mark(Enum):
    """A candidate's verdict against GOOD."""

    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


@dataclass(frozen=True)
class Search:
    """Where a bisection stands: the candidates (oldest first, BAD last) and what is known of each."""

    good: str
    candidates: tuple[str, ...]
    #: One per candidate: its verdict, or None while it is not judged.
    marks: tuple[Mark | None, ...]


@dataclass(frozen=True)
class Probe:
    """Judge this commit next."""

    commit: str


@dataclass(frozen=True)
class FirstBad:
    """Found: ``commit`` is slower, ``parent`` (a good candidate, or GOOD) is not."""

    commit: str
    parent: str


@dataclass(frozen=True)
class Among:
    """Skipped candidates hide the first slow commit: it is one of ``commits`` (oldest first)."""

    commits: tuple[str, ...]
    #: The newest commit known to be good (a candidate, or GOOD).
    last_good: str


@dataclass(frozen=True)
class NotSlower:
    """BAD was judged not slower than GOOD: nothing to look for."""


@dataclass(frozen=True)
class BadUnjudged:
    """BAD itself could not be judged (it did not build, or its comparison was undecided)."""

    commit: str


Outcome = FirstBad | Among | NotSlower | BadUnjudged


def start(good: str, candidates: tuple[str, ...]) -> Search:
    """A search over ``candidates`` (GOOD..BAD, oldest first); nothing judged yet."""
    if not candidates:
        raise ValueError("a bisection needs at least one commit after GOOD (BAD itself)")
    if len(set(candidates)) != len(candidates) or good in candidates:
        raise ValueError("the candidates of a bisection must be distinct commits other than GOOD")
    return Search(good, candidates, (None,) * len(candidates))


def marked(search: Search, commit: str, mark: Mark) -> Search:
    """The search after ``commit`` was judged ``mark``."""
    try:
        i = search.candidates.index(commit)
    except ValueError:
        raise ValueError(f"{commit} is not a candidate of this bisection") from None
    known = search.marks[i]
    if known is not None:
        raise ValueError(f"{commit} was already judged {known.value}")
    return Search(search.good, search.candidates, (*search.marks[:i], mark, *search.marks[i + 1 :]))


def _bounds(search: Search) -> tuple[int, int]:
    """Index of the last good candidate (-1: GOOD itself) and of the first bad one."""
    good = [i for i, m in enumerate(search.marks) if m is Mark.GOOD]
    bad = [i for i, m in enumerate(search.marks) if m is Mark.BAD]
    return max(good, default=-1), min(bad, default=len(search.candidates) - 1)


def _open(search: Search) -> list[int]:
    """Candidates between the last good and the first bad one that are still to be judged."""
    lo, hi = _bounds(search)
    return [i for i in range(lo + 1, hi) if search.marks[i] is None]


def next_step(search: Search) -> Probe | Outcome:
    """The commit to judge next, or what the verdicts so far show."""
    bad_mark = search.marks[-1]
    if bad_mark is None:
        return Probe(search.candidates[-1])
    if bad_mark is Mark.GOOD:
        return NotSlower()
    if bad_mark is Mark.SKIP:
        return BadUnjudged(search.candidates[-1])
    lo, hi = _bounds(search)
    todo = _open(search)
    if todo:
        # len(todo) + 1 answers remain (a run of skipped commits merges into the judgeable one after it):
        # judging todo[k] leaves k + 1 of them when it is bad and len(todo) - k when good.
        return Probe(search.candidates[todo[(len(todo) - 1) // 2]])
    last_good = search.good if lo < 0 else search.candidates[lo]
    if hi == lo + 1:
        return FirstBad(search.candidates[hi], last_good)
    return Among(search.candidates[lo + 1 : hi + 1], last_good)


def left(search: Search) -> int:
    """How many candidates may still have to be judged (BAD included while it is not)."""
    return len(_open(search)) + (search.marks[-1] is None)


def steps_left(search: Search) -> int:
    """Roughly how many more commits will be judged, skips aside (for progress lines)."""
    n = len(_open(search))
    return (search.marks[-1] is None) + (math.ceil(math.log2(n + 1)) if n else 0)


def bisect(search: Search, judge: Callable[[str], Mark]) -> tuple[Outcome, Search]:
    """Judge commits until the outcome is known; ``judge`` does the work (and may raise to stop)."""
    while True:
        step = next_step(search)
        if not isinstance(step, Probe):
            return step, search
        search = marked(search, step.commit, judge(step.commit))
