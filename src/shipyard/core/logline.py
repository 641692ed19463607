"""One log line as the central log store keeps it: decoded, bounded, parsed, levelled.

Pure functions, called by the log ingester (``engine/observe/logs.py``) for every line an
instance writes and every HAProxy access line. A line is never dropped for its
content: bytes that are not UTF-8 are decoded with U+FFFD and the line is marked
``invalid_utf8``; a line longer than ``MAX_LINE_BYTES`` keeps its first bytes and a
marker saying how long it was, and is marked ``truncated``. A JSON object line (as
structlog, python-json-logger and pino write them) gives its level, message and
time from their usual keys; its other keys are kept as fields. A plain line's level
is guessed from the words such loggers print (``ERROR``, ``level=warn``, a traceback).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_LINE_BYTES = 16 * 1024
TRUNCATED = 1  # flag bits
INVALID_UTF8 = 2

# Levels are numbers (pino's), so "warn and above" is a comparison.
LEVELS = {"trace": 10, "debug": 20, "info": 30, "warn": 40, "error": 50, "fatal": 60}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
_ALIASES = {
    "trace": 10,
    "debug": 20,
    "dbg": 20,
    "info": 30,
    "information": 30,
    "notice": 30,
    "warn": 40,
    "warning": 40,
    "error": 50,
    "err": 50,
    "exception": 50,
    "critical": 60,
    "crit": 60,
    "fatal": 60,
    "panic": 60,
    "emerg": 60,
    "alert": 60,
}
MESSAGE_KEYS = ("msg", "message", "event")  # pino, python-json-logger, structlog
LEVEL_KEYS = ("level", "levelname", "severity", "lvl", "log.level")
TIME_KEYS = ("time", "timestamp", "asctime", "ts", "@timestamp")
TRUST_TIME_S = 86400.0  # an app's own time further than this from ours is kept as a field only

_WORD = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|CRITICAL|CRIT|FATAL|PANIC)\b")
_KEYVALUE = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]+)", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(trace|debug|info|warn(?:ing)?|error|critical|fatal)\b", re.IGNORECASE)
_BRACKETED = re.compile(r"\[\s*(trace|debug|info|warn(?:ing)?|error|critical|fatal)\s*\]", re.IGNORECASE)


@dataclass(frozen=True)
class LogLine:
    at: float  # epoch seconds
    level: int  # a LEVELS value
    message: str
    fields: dict[str, Any] | None = None  # a JSON line's other keys
    flags: int = 0  # TRUNCATED | INVALID_UTF8

    @property
    def level_name(self) -> str:
        return level_name(self.level)


@dataclass(frozen=True)
class Source:
    """How far a followed log file has been read: its inode, the offset after the last
    complete line, the instance last seen starting in it, and whether a cut line's rest is
    being skipped. Stored in logs.db with the lines read, in one transaction."""

    path: str
    inode: int
    offset: int
    instance_id: int | None = None
    skipping: bool = False


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, "info")


def level_of(value: object) -> int | None:
    """A level as loggers write it ("WARNING", "warn", pino's 40) as a LEVELS value, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
        return min(LEVEL_NAMES, key=lambda known: abs(known - number)) if 0 < number <= 100 else None
    if isinstance(value, str):
        return _ALIASES.get(value.strip().lower())
    return None


def parse_level_filter(text: str) -> int:
    """``--level warn`` -> 40; ValueError naming the choices otherwise."""
    level = _ALIASES.get(text.strip().lower())
    if level is None:
        raise ValueError(f"unknown level {text!r}: use one of {', '.join(LEVELS)}")
    return level


def decode(raw: bytes) -> tuple[str, int]:
    """UTF-8 text of ``raw``, bounded to MAX_LINE_BYTES, and the flags that say what was done."""
    flags = 0
    if len(raw) > MAX_LINE_BYTES:
        raw = raw[:MAX_LINE_BYTES]
        flags |= TRUNCATED
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if flags & TRUNCATED and exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            text = raw[: exc.start].decode("utf-8", errors="replace")  # cut inside one character
        else:
            text = raw.decode("utf-8", errors="replace")
        if "\ufffd" in text:
            flags |= INVALID_UTF8
    if flags & TRUNCATED:
        text += f" …[line truncated at {MAX_LINE_BYTES} bytes]"
    return text.rstrip("\r"), flags


def guess_level(text: str) -> int:
    """The level a plain line shows: ``level=warn``, ``ERROR:``, ``[warning]``, a traceback."""
    if match := _KEYVALUE.search(text):
        found = _ALIASES.get(match.group(1).lower())
        if found is not None:
            return found
    if match := _PREFIX.match(text) or _BRACKETED.search(text[:200]):
        return _ALIASES[match.group(1).lower()]
    if match := _WORD.search(text[:200]):
        return _ALIASES[match.group(1).lower()]
    if text.startswith("Traceback (most recent call last)"):
        return LEVELS["error"]
    return LEVELS["info"]


def parse_time(value: object) -> float | None:
    """An app's time: epoch seconds or milliseconds (pino), or ISO 8601 text; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip().replace(",", ".", 1))
        except ValueError:
            return None
        return stamp.timestamp()  # a time without zone is the machine's local time
    return None


def parse_line(raw: bytes, now: float) -> LogLine:
    """One line (without its newline) written at about ``now`` by an instance."""
    text, flags = decode(raw)
    if text.startswith("{") and text.rstrip().endswith("}") and not flags & TRUNCATED:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return _from_json(data, text, now, flags)
    return LogLine(now, guess_level(text), text, None, flags)


def _from_json(data: dict[str, Any], text: str, now: float, flags: int) -> LogLine:
    fields = dict(data)
    message = next((str(fields.pop(k)) for k in MESSAGE_KEYS if isinstance(fields.get(k), str)), None)
    level = None
    for key in LEVEL_KEYS:
        if key in fields and (level := level_of(fields[key])) is not None:
            del fields[key]
            break
    at = now
    for key in TIME_KEYS:
        if key in fields and (stamp := parse_time(fields[key])) is not None:
            if abs(stamp - now) <= TRUST_TIME_S:
                at = stamp
                del fields[key]
            break
    if message is None:
        message = text
    if level is None:
        level = guess_level(message)
    return LogLine(at, level, message, fields or None, flags)


def access_message(method: str, path: str, status: int, active_ms: int, server: str) -> str:
    """How an HAProxy access line reads in the store: ``GET /notes 200 3ms blue-0``."""
    return f"{method} {path} {status} {active_ms}ms {server}".strip()


def access_level(status: int) -> int:
    if status >= 500 or status <= 0:
        return LEVELS["error"]
    if status >= 400:
        return LEVELS["warn"]
    return LEVELS["info"]


def access_request(text: str) -> tuple[str, str]:
    """The method and path HAProxy appends to its access line (``LOG_FORMAT``), or ("-", "-")."""
    start = text.find("SY ")
    parts = text[start:].split() if start >= 0 else []
    if len(parts) >= 9:
        return parts[7], parts[8]
    return "-", "-"
