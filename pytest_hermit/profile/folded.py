"""A profile as folded stacks (``frame;frame count`` lines), which speedscope and flamegraph.pl open.

The plugin counts blocks, not call stacks, so each stack is the guest's
name and one function: the flame graph is as wide as each function's share
of the instructions executed per boot.
"""

from __future__ import annotations

from pytest_hermit.profile.profile import FunctionProfile


def folded(profile: FunctionProfile, root: str = "guest") -> str:
    """One line per function that ran: ``root;function instructions-per-boot``, largest first."""
    lines = []
    for name in sorted(profile.functions, key=lambda n: (-profile.functions[n].instructions, n)):
        count = round(profile.per_boot(name))
        if count > 0:
            frame = name.replace(";", ":").replace(" ", "_")
            lines.append(f"{root};{frame} {count}")
    return "\n".join(lines) + "\n"
