"""Typed reading of the package's JSON documents (baselines, history records): one validator style.

A :class:`Fields` wraps one JSON object and hands out its fields by type;
a field of the wrong type raises the document's own error (``fail``, e.g.
``BaselineError`` with the file) naming the field's whole path
(``entries[3].per_boot[0][1] must be a number, found 'x'``), so a person
can find it in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Makes the document's own error from a sentence about one field.
Fail = Callable[[str], Exception]


def kind(value: object) -> str:
    """What a JSON value is, for messages (``nothing`` for a missing field)."""
    return "nothing" if value is None else type(value).__name__


class Fields:
    """One JSON object of a document; ``where`` is its path in the document ("" at the top)."""

    def __init__(self, value: object, where: str, fail: Fail) -> None:
        self.where = where
        self.fail = fail
        if not isinstance(value, dict):
            raise fail(f"{where or 'the document'} must be an object, found {kind(value)}")
        self.d: dict[str, Any] = value

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def sub(self, key: str, *, default: object = None) -> Fields:
        """The object under ``key`` (``default`` when it is missing)."""
        return Fields(self.d.get(key, default), self.path(key), self.fail)

    def text(self, key: str, *, null: bool = False, missing: str | None = None) -> Any:
        """A string; None for null when ``null``; ``missing`` for an absent or null field when given."""
        value = self.d.get(key)
        if value is None and missing is not None:
            return missing
        if value is None and null:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{self.path(key)} must be a string{' or null' if null else ''}, found {value!r}")
        return value

    def flag(self, key: str, *, null: bool = False, missing: bool | None = None) -> Any:
        value = self.d.get(key)
        if value is None and missing is not None:
            return missing
        if value is None and null:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{self.path(key)} must be true or false{' or null' if null else ''}, found {value!r}")
        return value

    def whole(self, key: str, *, null: bool = False) -> Any:
        value = self.d.get(key)
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{self.path(key)} must be a whole number, found {value!r}")
        return value

    def number(self, value: object, where: str) -> float:
        """``value`` (found at ``where``) as a number: JSON's true and false are not numbers."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where} must be a number, found {value!r}")
        return float(value)

    def array(self, key: str, *, missing: list[Any] | None = None) -> list[Any]:
        value = self.d.get(key)
        if value is None and missing is not None:
            return missing
        if not isinstance(value, list):
            raise self.fail(f"{self.path(key)} must be a list, found {kind(value)}")
        return value

    def numbers(self, key: str, *, empty_rows: bool = False) -> tuple[tuple[float, ...], ...]:
        """A list of lists of numbers (boots x repetitions); each non-empty unless ``empty_rows``."""
        rows = []
        for b, row in enumerate(self.array(key)):
            where = f"{self.path(key)}[{b}]"
            if not isinstance(row, list) or not (row or empty_rows):
                raise self.fail(f"{where} must be a non-empty list of numbers (one boot's repetitions), found {row!r}")
            rows.append(tuple(self.number(v, f"{where}[{r}]") for r, v in enumerate(row)))
        return tuple(rows)
