"""Durations as people write them in shipyard.yaml ("500ms", "2s", "10m", "1h").

Pure parsing and formatting; used by the manifest models and the CLI.
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a number of seconds or a string such as "1m30s".

    Raises ValueError with a message that says what is accepted.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 500ms, 2s, 10m or 1h, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative (got {value})")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 500ms, 2s, 10m or 1h, got {value!r}")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(
            f"{value!r} is not a duration: write a number with a unit, such as 500ms, 2s, 10m or 1h"
        )
    return total


def format_duration(seconds: float) -> str:
    """Format seconds the way the manifest writes them (used in messages and docs)."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
