"""Parse and render ``.env`` files the way teams write them (python-dotenv, docker compose).

Pure text in, text out; called by the vault service in the engine (import and export of an
environment's secrets) and by the ``shipyard secrets`` commands.

What a line may be:

- blank, or a comment: ``# ...`` (leading whitespace allowed);
- ``KEY=value``, optionally prefixed by ``export``, with spaces around ``=`` allowed. A key is
  letters, digits and ``_``, not starting with a digit (what every shell and runtime accepts);
- unquoted value: the rest of the line, where whitespace followed by ``#`` starts a comment
  (``a#b`` keeps its ``#``), trimmed;
- single-quoted value: literal, no escapes, may span lines;
- double-quoted value: ``\\n`` ``\\r`` ``\\t`` ``\\"`` ``\\'`` ``\\\\`` and ``\\$`` are
  escapes (any other backslash is kept), may span lines;
- after a closing quote, only whitespace and a comment.

No variable expansion: ``${X}`` stays as written. A key given twice keeps its last value, as in
python-dotenv and compose. ``\\r\\n`` line ends are read as ``\\n``.

``render_dotenv`` quotes so that ``parse_dotenv(render_dotenv(x)) == x`` for any strings,
and prefers single quotes, which compose does not interpolate either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shipyard.errors import VaultError

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[^=\s]*)[ \t]*=(?P<space>[ \t]*)")
_INLINE_COMMENT = re.compile(r"[ \t]#")
_AFTER_QUOTE = re.compile(r"[ \t]*(?:#.*)?")
_SAFE_UNQUOTED = re.compile(r"[A-Za-z0-9_./:@%+,=-]+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\", "$": "$"}
_RENDER_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "$": "\\$"}
_KEY_RULE = "keys are letters, digits and _, not starting with a digit"


def parse_dotenv(text: str, source: str = "<dotenv>") -> dict[str, str]:
    """``KEY -> value`` in file order; ``source`` (a file name) prefixes every error."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    values: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        end = _line_end(text, pos)
        line = text[pos:end]
        if not line.strip() or line.lstrip().startswith("#"):
            pos = end + 1
            continue
        key, value, pos = _assignment(text, pos, end, source)
        values.pop(key, None)
        values[key] = value
    return values


def render_dotenv(values: Mapping[str, str]) -> str:
    """One ``KEY=value`` line per entry, quoted as needed; keys must be valid names."""
    lines = []
    for key, value in values.items():
        if not KEY.fullmatch(key):
            raise VaultError(f"cannot write {key!r} to a .env file: {_KEY_RULE}", "Rename the secret.")
        lines.append(f"{key}={quote_value(value)}\n")
    return "".join(lines)


def quote_value(value: str) -> str:
    """``value`` as it must be written after ``KEY=`` to read back unchanged."""
    if _SAFE_UNQUOTED.fullmatch(value):
        return value
    if "'" not in value and "\r" not in value:
        return f"'{value}'"
    return '"' + "".join(_RENDER_ESCAPES.get(char, char) for char in value) + '"'


def _assignment(text: str, start: int, end: int, source: str) -> tuple[str, str, int]:
    """One ``KEY=value`` from ``start``: (key, value, where the next line starts)."""
    line_no = text.count("\n", 0, start) + 1
    match = _ASSIGNMENT.match(text, start, end)
    if not match:
        raise _error(source, line_no, "expected KEY=value")
    key = match["key"]
    if not KEY.fullmatch(key):
        raise _error(source, line_no, f"invalid key name ({_KEY_RULE})")
    opening = match.end()
    if opening < end and text[opening] in "'\"":
        value, closed = _quoted(text, opening, source, key, line_no)
        after_end = _line_end(text, closed + 1)
        if not _AFTER_QUOTE.fullmatch(text, closed + 1, after_end):
            where = text.count("\n", 0, closed) + 1
            raise _error(source, where, f"unexpected text after the closing quote of {key}")
        return key, value, after_end + 1
    return key, _unquoted(text[match.start("space") : end]), end + 1


def _quoted(text: str, opening: int, source: str, key: str, line_no: int) -> tuple[str, int]:
    """The value of a quoted string starting at ``opening`` and the index of its closing quote."""
    quote = text[opening]
    if quote == "'":
        closing = text.find("'", opening + 1)
        if closing == -1:
            raise _unterminated(source, line_no, key, "single")
        return text[opening + 1 : closing], closing
    chars: list[str] = []
    pos = opening + 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return "".join(chars), pos
        if char == "\\" and pos + 1 < len(text):
            escaped = text[pos + 1]
            chars.append(_ESCAPES.get(escaped, "\\" + escaped))
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise _unterminated(source, line_no, key, "double")


def _unquoted(raw: str) -> str:
    """``raw`` is everything after ``=``, leading whitespace included, to the end of the line."""
    comment = _INLINE_COMMENT.search(raw)
    if comment:
        raw = raw[: comment.start()]
    return raw.strip()


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end


def _unterminated(source: str, line_no: int, key: str, kind: str) -> VaultError:
    return _error(source, line_no, f"the value of {key} opens a {kind} quote that is never closed")


def _error(source: str, line_no: int, problem: str) -> VaultError:
    """Errors name the place and the problem, never the line's text: it may hold a secret."""
    return VaultError(
        f"{source}:{line_no}: {problem}",
        "Fix that line: KEY=value, KEY='literal value' or KEY=\"value with \\n escapes\".",
    )
