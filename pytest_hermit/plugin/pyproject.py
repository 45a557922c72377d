"""The ``[tool.hermit]`` table of the project's pyproject.toml, read once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pytest_hermit.errors import ConfigError


def tool_hermit(pyproject: Path) -> dict[str, Any]:
    """``[tool.hermit]`` as a dict (empty when the file or the table is absent)."""
    if not pyproject.is_file():
        return {}
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("hermit", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.hermit] must be a table")
    return table
