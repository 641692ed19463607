"""Log lines: decoding, truncation, JSON fields, level guessing, access lines (pure, as tables)."""

from __future__ import annotations

import json

import pytest

from shipyard.core.logline import (
    INVALID_UTF8,
    LEVELS,
    MAX_LINE_BYTES,
    TRUNCATED,
    access_level,
    access_message,
    access_request,
    decode,
    guess_level,
    level_of,
    parse_level_filter,
    parse_line,
    parse_time,
)

NOW = 1_764_590_400.0  # 2025-12-01T12:00:00Z


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("INFO:     Started server process [42]", "info"),
        ("WARNING:root:disk almost full", "warn"),
        ("ERROR:notes:could not initialise database", "error"),
        ("2026-12-01 12:00:00 [warning] slow query", "warn"),
        ("ts=1 level=error msg=boom", "error"),
        ('time="x" level=debug msg="cache miss"', "debug"),
        ("[debug] starting", "debug"),
        ("Traceback (most recent call last):", "error"),
        ("CRITICAL: out of memory", "fatal"),
        ("a plain line", "info"),
        ("errors are words too, lowercase here", "info"),
        ("", "info"),
    ],
)
def test_guess_level(text: str, level: str) -> None:
    assert guess_level(text) == LEVELS[level]


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("WARNING", 40),
        ("warn", 40),
        ("Error", 50),
        (30, 30),
        (60, 60),
        (35, 30),
        ("nope", None),
        (True, None),
    ],
)
def test_level_of(value: object, level: int | None) -> None:
    assert level_of(value) == level


def test_level_filter_names_the_choices() -> None:
    assert parse_level_filter("WARN") == 40
    with pytest.raises(ValueError, match="use one of trace, debug"):
        parse_level_filter("loud")


@pytest.mark.parametrize(
    ("raw", "text", "flags"),
    [
        (b"hello", "hello", 0),
        (b"caf\xc3\xa9\r", "café", 0),
        (b"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes", INVALID_UTF8),
    ],
)
def test_decode(raw: bytes, text: str, flags: int) -> None:
    assert decode(raw) == (text, flags)


def test_a_huge_line_is_kept_truncated_with_a_marker() -> None:
    text, flags = decode(b"x" * (MAX_LINE_BYTES * 4))
    assert flags == TRUNCATED
    assert text.startswith("x" * MAX_LINE_BYTES)
    assert text.endswith(f"…[line truncated at {MAX_LINE_BYTES} bytes]")


def test_a_cut_inside_a_character_is_not_invalid_utf8() -> None:
    raw = b"x" * (MAX_LINE_BYTES - 1) + "é".encode() * 10  # the cut falls inside the é
    text, flags = decode(raw)
    assert flags == TRUNCATED
    assert "\ufffd" not in text


@pytest.mark.parametrize(
    ("line", "level", "message", "at", "fields"),
    [
        # structlog's JSONRenderer: event, level, timestamp (ISO, UTC)
        (
            {"event": "user logged in", "level": "info", "timestamp": "2025-12-01T11:59:00Z", "user": 7},
            "info",
            "user logged in",
            NOW - 60,
            {"user": 7},
        ),
        # python-json-logger: message, levelname, asctime (local time without zone)
        (
            {"message": "slow", "levelname": "WARNING", "name": "notes"},
            "warn",
            "slow",
            NOW,
            {"name": "notes"},
        ),
        # pino: msg, numeric level, time in epoch milliseconds
        (
            {"level": 50, "time": int((NOW - 5) * 1000), "pid": 1, "msg": "request failed"},
            "error",
            "request failed",
            NOW - 5,
            {"pid": 1},
        ),
        # a time far from ours is not trusted: it stays a field, the line gets our time
        ({"msg": "old", "time": 1000}, "info", "old", NOW, {"time": 1000}),
        # no message key: the whole line is the message, its level guessed
        ({"status": "ERROR", "code": 3}, "error", None, NOW, {"status": "ERROR", "code": 3}),
    ],
)
def test_json_lines_give_their_fields(
    line: dict[str, object], level: str, message: str | None, at: float, fields: dict[str, object]
) -> None:
    raw = json.dumps(line).encode()
    got = parse_line(raw, NOW)
    assert got.level_name == level
    assert got.message == (message if message is not None else raw.decode())
    assert got.at == pytest.approx(at)
    assert got.fields == fields


@pytest.mark.parametrize("raw", [b"{not json}", b"[1, 2]", b'{"a": 1'])
def test_lines_that_only_look_like_json_stay_plain(raw: bytes) -> None:
    got = parse_line(raw, NOW)
    assert (got.message, got.fields, got.at) == (raw.decode(), None, NOW)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (NOW, NOW),
        (NOW * 1000, NOW),
        ("2025-12-01T12:00:00+00:00", NOW),
        ("2025-12-01T12:00:00.500Z", NOW + 0.5),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_time(value: object, seconds: float | None) -> None:
    assert parse_time(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_access_lines() -> None:
    line = "SY fe_dev blue-0 503 17 1764590400.042 SC GET /notes/7"
    assert access_request(line) == ("GET", "/notes/7")
    assert access_request("SY fe_dev blue-0 200 3 1.0 --") == ("-", "-")
    assert access_message("GET", "/notes/7", 503, 17, "blue-0") == "GET /notes/7 503 17ms blue-0"
    assert [access_level(s) for s in (200, 302, 404, 500, -1)] == [30, 30, 40, 50, 50]
