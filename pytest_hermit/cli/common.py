"""What the commands share: the output (text or Markdown tables), the --dir and build arguments, phrases."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pytest_hermit.gate import baselines as bl
from pytest_hermit.report.tables import Table, render_markdown, render_text

DEFAULT_DIR = ".hermit/baselines"


@dataclass(frozen=True)
class Out:
    """Where a command writes: tables as text or Markdown (--markdown), and lines."""

    out: TextIO
    markdown: bool

    def table(self, table: Table) -> None:
        self.out.write((render_markdown(table) if self.markdown else render_text(table)) + "\n\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")


def dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR), help=f"baseline directory (default {DEFAULT_DIR})")
    p.add_argument("--markdown", action="store_true", help="print tables as Markdown")


def build_args(p: argparse.ArgumentParser) -> None:
    """How the commands that build git refs (branches, bisect) build one: a shell command and what it makes."""
    p.add_argument("--build", required=True, metavar="CMD", help="shell command that builds the image in a checkout")
    p.add_argument("--image", required=True, metavar="PATH", help="the built kernel, relative to the checkout")
    p.add_argument("--initrd", metavar="PATH", help="the built initrd, relative to the checkout (HermitCore apps)")


def run_words(run: str) -> str:
    """A run's identity as it appears after a test id ("run 'basic' "), or nothing when unknown."""
    return f"run {run!r} " if run else ""


def dirty(c: bl.Context) -> str:
    """Said next to the commit, so nobody takes numbers of uncommitted code for the commit's."""
    return " + uncommitted changes (dirty)" if c.git_dirty else ""
