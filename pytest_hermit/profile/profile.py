"""A guest's instructions per function over the boots of one measurement, and its stored form.

Stored compressed (zlib, then base64: a JSON string) inside baseline files
and history records, so a later comparison diffs against the baseline's
profile without building the baseline's commit again::

    {"version": 1, "boots": 1, "functions": {"getpid": [4500000, "common/sched.c:33"], ...}}
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_hermit.profile.counts import BlockCounts, instructions_by_address
from pytest_hermit.profile.symbols import UNRESOLVED, SymbolTable

VERSION = 1


class ProfileError(ValueError):
    """A stored profile that cannot be read (the message says where it came from)."""


@dataclass(frozen=True)
class FunctionCount:
    instructions: int
    #: ``file:line`` of the function, "" when unknown.
    where: str = ""


@dataclass(frozen=True)
class FunctionProfile:
    """Instructions executed per function, summed over ``boots`` boots."""

    boots: int
    functions: Mapping[str, FunctionCount]

    @classmethod
    def of(cls, counts: BlockCounts, symbols: SymbolTable, boots: int) -> FunctionProfile:
        """Block counts of ``boots`` boots attributed to the functions the blocks start in."""
        functions: dict[str, list[Any]] = {}
        for address, instructions in instructions_by_address(counts):
            function = symbols.lookup(address)
            slot = functions.setdefault(function.name, [0, function.where])
            slot[0] += instructions
        return cls(boots, {name: FunctionCount(n, where) for name, (n, where) in functions.items()})

    @property
    def total(self) -> int:
        return sum(f.instructions for f in self.functions.values())

    @property
    def unresolved_share(self) -> float:
        """The share of instructions no symbol covered (grouped by region): high means the wrong symbols."""
        total = self.total
        unresolved = sum(f.instructions for name, f in self.functions.items() if name.startswith(UNRESOLVED))
        return unresolved / total if total else 0.0

    def per_boot(self, name: str) -> float:
        """Instructions of ``name`` in an average boot (0 when it did not run)."""
        count = self.functions.get(name)
        return count.instructions / self.boots if count else 0.0

    def merged(self, more: FunctionProfile) -> FunctionProfile:
        """This profile with the boots of ``more`` added."""
        functions = dict(self.functions)
        for name, count in more.functions.items():
            old = functions.get(name)
            functions[name] = FunctionCount(
                count.instructions + (old.instructions if old else 0), (old.where if old else "") or count.where
            )
        return FunctionProfile(self.boots + more.boots, functions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "boots": self.boots,
            "functions": {name: [c.instructions, c.where] for name, c in sorted(self.functions.items())},
        }

    def encode(self) -> str:
        """The stored form: compressed JSON as one ASCII string."""
        text = json.dumps(self.as_dict(), separators=(",", ":"))
        return base64.b64encode(zlib.compress(text.encode(), 9)).decode("ascii")

    @classmethod
    def from_dict(cls, document: object, source: str = "<profile>") -> FunctionProfile:
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise ProfileError(f"{source}: not a version {VERSION} profile")
        boots = document.get("boots")
        functions = document.get("functions")
        if not isinstance(boots, int) or boots < 1 or not isinstance(functions, dict):
            raise ProfileError(f"{source}: a profile needs boots >= 1 and a table of functions")
        out: dict[str, FunctionCount] = {}
        for name, value in functions.items():
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not isinstance(value[0], int)
                or not isinstance(value[1], str)
            ):
                raise ProfileError(f"{source}: function {name!r} must be [instructions, 'file:line']")
            out[name] = FunctionCount(value[0], value[1])
        return cls(boots, out)

    @classmethod
    def decode(cls, text: object, source: str = "<profile>") -> FunctionProfile:
        """The profile :meth:`encode` stored."""
        if not isinstance(text, str):
            raise ProfileError(f"{source}: a stored profile is a base64 string")
        try:
            document = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
        except (binascii.Error, zlib.error, ValueError) as exc:
            raise ProfileError(f"{source}: the stored profile is damaged ({exc})") from None
        return cls.from_dict(document, source)
