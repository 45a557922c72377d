"""``pytest-hermit bisect GOOD BAD``: which commit made it slower?

GOOD is built once and is image A of every comparison. Each commit the
search (``bisect/search.py``) picks is checked out into a temporary worktree,
built with the user's command, and judged against GOOD in an interleaved A/B
pytest run (``--hermit-kernel=GOOD --hermit-ab=COMMIT``); its JSON report
says which metrics regressed (``bisect/verdicts.py``). The candidates are the
commits after GOOD on BAD's first-parent line: a merged branch counts as its
merge commit, where ``git bisect`` would walk into it. A commit that does not
build, that builds but whose A/B run breaks (its guest does not boot, crashes
or times out), or whose comparison stays inconclusive, is skipped as ``git
bisect skip`` does. The commit found is judged once more against its parent and
named only when it is slower than that too.

Exit statuses (``README.md``, "Bisect"):

* 0: the first bad commit is named (found and confirmed against its parent);
* 1: BAD is not slower than GOOD: nothing to look for;
* 2: interrupted (Ctrl-C, SIGTERM), after the running pytest stopped and the worktrees were removed;
* 6: no commit named: a build of GOOD or BAD failed, BAD's A/B run broke, an A/B run was refused
  or failed otherwise, skipped commits leave several candidates (listed), or the commit found was not
  slower than its parent (not named);
* 7: refused: a ref is not a commit, GOOD is not on BAD's first-parent line, the pytest
  arguments set what bisect sets itself, or the tests measure no comparison or not the
  ``--metric`` asked for.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_hermit.bisect import search as bs
from pytest_hermit.bisect import verdicts
from pytest_hermit.cli import abrun, children
from pytest_hermit.cli import worktrees as wt
from pytest_hermit.cli.common import Out, build_args
from pytest_hermit.exitcodes import EXIT_BROKEN, EXIT_OK, EXIT_REFUSED
from pytest_hermit.vm import signals

HELP = "find the first commit between GOOD and BAD whose metrics regressed against GOOD (A/B runs, built in worktrees)"

PREFIX = "pytest-hermit bisect"

#: BAD is not slower than GOOD: nothing to look for (not 0, which promises a named commit).
EXIT_NOT_SLOWER = 1

EPILOG = """\
The candidates are the commits after GOOD on BAD's first-parent line
(git log --first-parent GOOD..BAD): a merged branch is judged as its merge
commit, where git bisect would walk into it. Each is built in a temporary
worktree and judged against GOOD in an interleaved A/B pytest run; a commit
that does not build, or whose A/B run breaks (its guest does not boot),
is skipped, as git bisect skip does. The commit found is
judged once more against its parent and named only when it regressed there too.

Everything after -- goes to pytest (the tests of the current checkout), e.g.
  pytest-hermit bisect v1.2 main --build 'make -C guest' \\
      --image guest/build/refguest.elf -- --hermit-env=icount tests/perf

exit status:
  0  found: the last lines are "first bad commit: SHA SUBJECT" and its changes
  1  BAD is not slower than GOOD
  2  interrupted; the running pytest was stopped and the worktrees removed
  6  no commit named: a build of GOOD or BAD failed, BAD's A/B run broke, or
     an A/B run was refused or failed otherwise; skipped
     commits leave several candidates (listed); or the commit found did not
     regress against its parent (noise: more boots, or icount)
  7  refused: a ref is not a commit, GOOD is not on BAD's first-parent line,
     or the arguments ask for something bisect cannot do
"""


@dataclass(frozen=True)
class BisectRequest:
    good: str
    bad: str
    build: str
    image: str
    initrd: str | None
    #: Only these metrics decide (all of them when empty).
    metrics: tuple[str, ...]
    pytest_args: tuple[str, ...]
    repo: Path
    #: Show the builds' and pytest's own output, not only one line per step.
    verbose: bool = False


class Stop(Exception):
    """Ends a bisection with ``status``; the message says why, ``output`` the last lines of what failed."""

    def __init__(self, status: int, message: str, output: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.output = tuple(output)


class Broke(Stop):
    """An A/B run that broke (pytest status 6): a commit in the middle is skipped for it, GOOD's or BAD's ends."""


class _Bisection:
    """One bisection's side effects: builds kept per commit, A/B runs against GOOD, one line per step."""

    def __init__(
        self, req: BisectRequest, repo: Path, good: wt.Commit, line: tuple[wt.Commit, ...], tmp: Path, out: Out
    ):
        self.req = req
        self.repo = repo
        self.tmp = tmp
        self.out = out
        self.good = good
        self.line = line
        self.commits = {c.sha: c for c in (good, *line)}
        self.bad = line[-1]
        self.images: dict[str, wt.Built] = {}
        #: Why a commit was skipped, for the final list.
        self.skipped: dict[str, str] = {}
        #: What made a bad commit bad, against GOOD: the confirmation must show it again.
        self.deciding: dict[str, tuple[verdicts.Change, ...]] = {}
        self.qualify = False
        self.runs = 0
        self.steps = 0

    def say(self, text: str) -> None:
        self.out.line(text)
        self.out.out.flush()  # between the children's own output under --verbose

    def _log(self, name: str) -> Path | None:
        return None if self.req.verbose else self.tmp / "logs" / name

    def build(self, c: wt.Commit) -> wt.Built:
        """``c`` built in a worktree of its own; the image is kept, the worktree removed at once."""
        if c.sha not in self.images:
            log = self._log(f"build-{c.short}.log")
            if log is not None:
                log.parent.mkdir(exist_ok=True)
            with wt.worktree(self.repo, c.sha, self.tmp / f"worktree-{c.short}") as folder:
                built = wt.build(folder, self.req.build, self.req.image, self.req.initrd, log)
                self.images[c.sha] = wt.keep(built, self.tmp / "images" / c.short)
        return self.images[c.sha]

    def compare(self, a: wt.Built, b: wt.Built, what: str) -> tuple[verdicts.Change, ...]:
        """B judged against A; :class:`Stop` when the run gave no usable verdict."""
        self.runs += 1
        first = self.runs == 1
        log = self._log(f"pytest-{self.runs}.log")
        if log is not None:
            log.parent.mkdir(exist_ok=True)
        try:
            found = abrun.judged(a, b, self.req.pytest_args, self.tmp / f"run-{self.runs}.json", log)
        except abrun.RunFailed as exc:
            stop = Broke if exc.broken else Stop
            raise stop(EXIT_BROKEN, f"the A/B run of {what} failed: {exc}", exc.output) from None
        # On the first run a missing metric is the setup's fault (refused); later, a commit's.
        status = EXIT_REFUSED if first else EXIT_BROKEN
        if not found:
            raise Stop(status, f"the A/B run of {what} compared no metric: do the tests call hermit_run?")
        missing = verdicts.missing(found, self.req.metrics)
        if missing:
            measured = ", ".join(sorted({c.metric for c in found}))
            raise Stop(status, f"the A/B run of {what} measured no {', '.join(missing)} (it measured {measured})")
        self.qualify = self.qualify or verdicts.qualified(found)
        return found

    def describe(self, changes: Sequence[verdicts.Change]) -> str:
        return "; ".join(verdicts.describe(c, self.qualify) for c in changes)

    def judge(self, sha: str) -> bs.Mark:
        """One step: build ``sha``, judge it against GOOD, say what was found."""
        self.steps += 1
        c = self.commits[sha]
        started = time.monotonic()
        head = f"bisect: step {self.steps}: {c.short} {c.subject!r}"
        try:
            built = self.build(c)
        except wt.BuildError as exc:
            self.skipped[sha] = f"the build {exc}"
            self.say(f"{head}: skip, the build {exc}")
            for text in exc.output:
                self.say(f"    {text}")
            return bs.Mark.SKIP
        try:
            found = self.compare(self.images[self.good.sha], built, f"{c.short} against GOOD {self.good.short}")
        except Broke as exc:
            # Built but did not boot (or crashed): as git bisect skip, the search judges a neighbour instead.
            self.skipped[sha] = str(exc)
            self.say(f"{head}: skip, {exc}")
            for text in exc.output:
                self.say(f"    {text}")
            return bs.Mark.SKIP
        judgement = verdicts.judge(found, self.req.metrics)
        if judgement.mark is bs.Mark.BAD:
            self.deciding[sha] = judgement.deciding
        note = ""
        if judgement.mark is bs.Mark.SKIP:
            self.skipped[sha] = "its comparison was inconclusive"
            note = " (inconclusive: more boots would decide, --hermit-max-boots)"
        seconds = time.monotonic() - started
        self.say(f"{head}: {judgement.mark.value}{note}, {self.describe(judgement.deciding)} ({seconds:.1f} s)")
        return judgement.mark

    def run(self) -> int:
        started = time.monotonic()
        start = bs.start(self.good.sha, tuple(c.sha for c in self.line))
        self.say(f"bisect: GOOD {self.good.short} {self.good.subject!r}, BAD {self.bad.short} {self.bad.subject!r}")
        estimate = bs.steps_left(start)
        self.say(
            f"bisect: {len(self.line)} commit(s) after GOOD on BAD's first-parent line; about {estimate} step(s) "
            f"and a confirmation; worktrees in {self.tmp}"
        )
        try:
            self.build(self.good)
        except wt.BuildError as exc:
            raise Stop(
                EXIT_BROKEN, f"the build of GOOD {self.good.short} {exc}: nothing to compare with", exc.output
            ) from None
        self.say(f"bisect: GOOD {self.good.short} built: image A of every step")
        outcome, done = bs.bisect(start, self.judge)
        if isinstance(outcome, bs.NotSlower):
            self.say(f"bisect: BAD is not slower than GOOD ({self.summary(done, started)})")
            return EXIT_NOT_SLOWER
        if isinstance(outcome, bs.BadUnjudged):
            raise Stop(EXIT_BROKEN, f"BAD {self.bad.short} could not be judged: {self.skipped[outcome.commit]}")
        if isinstance(outcome, bs.Among):
            self.say(f"bisect: {self.summary(done, started)}")
            self.say(
                f"bisect: no single commit named: the first bad commit is one of these {len(outcome.commits)} "
                f"(after {self.commits[outcome.last_good].short}, which is good):"
            )
            for sha in outcome.commits:
                why = self.skipped.get(sha, "slower than GOOD")
                self.say(f"  {sha} {self.commits[sha].subject}  ({why})")
            return EXIT_BROKEN
        return self.confirm(outcome, done, started)

    def confirm(self, found: bs.FirstBad, done: bs.Search, started: float) -> int:
        """Judge the commit found against its parent; name it only when it regressed there too."""
        culprit, parent = self.commits[found.commit], self.commits[found.parent]
        what = f"{culprit.short} against its parent {parent.short}"
        changes = self.compare(self.images[parent.sha], self.images[culprit.sha], what)
        regressed = verdicts.confirmed(changes, self.deciding[culprit.sha])
        shown = regressed or verdicts.judge(changes, self.req.metrics).deciding
        verdict = "bad" if regressed else "not slower"
        self.say(
            f"bisect: confirm {culprit.short} {culprit.subject!r} against {parent.short}: {verdict}, "
            + self.describe(shown)
        )
        self.say(f"bisect: {self.summary(done, started)}")
        if not regressed:
            raise Stop(EXIT_BROKEN, self.unconfirmed(culprit, parent))
        self.say(f"first bad commit: {culprit.sha} {culprit.subject}")
        for c in regressed:
            self.say(f"  {verdicts.describe(c, self.qualify)}")
        return EXIT_OK

    def unconfirmed(self, culprit: wt.Commit, parent: wt.Commit) -> str:
        """Why the commit found is not named, and what to try."""
        deciding = self.deciding[culprit.sha]
        said = (
            f"{culprit.short} is slower than GOOD ({self.describe(deciding)}) but not than its parent "
            f"{parent.short}, so it is not named: "
        )
        if all(c.method == "exact" for c in deciding):
            # Exact numbers do not vary: each step really stayed within the tolerance.
            return said + (
                "the numbers are exact, so the slowdown came in several steps, each within the tolerance; "
                "bisect with a smaller tolerance ([tool.hermit.tolerance.ENV] in pyproject.toml) or a nearer GOOD"
            )
        return said + (
            "timed numbers vary from run to run; bisect again with more boots (--hermit-boots=10 "
            "--hermit-max-boots=40) or in the exact icount environment (--hermit-env=icount), or the slowdown "
            "came in several steps, each within the tolerance"
        )

    def summary(self, done: bs.Search, started: float) -> str:
        judged = sum(m is not None for m in done.marks)
        skipped = sum(m is bs.Mark.SKIP for m in done.marks)
        return (
            f"{judged} of {len(done.candidates)} commit(s) judged, {skipped} skipped, {self.runs} A/B run(s), "
            f"{time.monotonic() - started:.0f} s"
        )


def _prepare(req: BisectRequest) -> tuple[Path, wt.Commit, tuple[wt.Commit, ...]]:
    """The repository, GOOD and the candidates; :class:`Stop` (refused) when the request cannot be bisected."""
    try:
        repo = wt.toplevel(req.repo)
        good, bad = (wt.commit(repo, wt.resolve(repo, ref)) for ref in (req.good, req.bad))
        if good.sha == bad.sha:
            raise Stop(EXIT_REFUSED, f"GOOD and BAD are the same commit ({good.short}): nothing to bisect")
        if not wt.is_ancestor(repo, good.sha, bad.sha):
            raise Stop(
                EXIT_REFUSED,
                f"GOOD {req.good} ({good.short}) is not an ancestor of BAD {req.bad} ({bad.short}): "
                "bisect needs GOOD older than BAD on one line of history (swap them?)",
            )
        line = wt.first_parent_line(repo, good.sha, bad.sha)
    except wt.GitError as exc:
        raise Stop(EXIT_REFUSED, str(exc)) from None
    clash = abrun.clashes(req.pytest_args)
    if clash:
        raise Stop(
            EXIT_REFUSED,
            f"{' '.join(clash)}: bisect sets the images and the JSON report of each A/B run itself; "
            "leave these out of the pytest arguments",
        )
    return repo, good, line


def run(req: BisectRequest, out: Out) -> int:
    """Bisect, print one line per step and the result; the exit status of the module's docstring."""
    return children.interruptible(PREFIX, lambda: _run(req, out), before=out.out.flush)


def _run(req: BisectRequest, out: Out) -> int:
    try:
        repo, good, line = _prepare(req)
        tmp = Path(tempfile.mkdtemp(prefix="hermit-bisect-"))
        try:
            return _Bisection(req, repo, good, line, tmp, out).run()
        finally:
            with signals.uninterrupted():
                shutil.rmtree(tmp, ignore_errors=True)
                wt.prune(repo)
    except Stop as exc:
        out.out.flush()
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        for text in exc.output:
            print(f"    {text}", file=sys.stderr)
        return exc.status


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("good", metavar="GOOD", help="git ref of a commit that is not slow (image A of every comparison)")
    p.add_argument("bad", metavar="BAD", help="git ref of a later commit that is slower, on GOOD's line (e.g. main)")
    build_args(p)
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="M",
        help="only this metric decides whether a commit is bad (repeat, or comma-separate; default: any metric)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show the builds' and pytest's own output")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG


def request(args: argparse.Namespace) -> BisectRequest:
    """The request the command line makes (``--metric`` may be repeated or comma-separated)."""
    metrics = tuple(m.strip() for given in args.metric for m in given.split(",") if m.strip())
    return BisectRequest(
        good=args.good,
        bad=args.bad,
        build=args.build,
        image=args.image,
        initrd=args.initrd,
        metrics=metrics,
        pytest_args=tuple(getattr(args, "pytest_args", ())),
        repo=Path.cwd(),
        verbose=args.verbose,
    )


def command(args: argparse.Namespace, out: Out) -> int:
    return run(request(args), out)
