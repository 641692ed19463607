"""The audit log's hash chain: how an entry is hashed and how a chain is verified. Pure.

Each entry's hash covers its own fields and the previous entry's hash, so
changing, removing or reordering any entry breaks every hash after it;
``verify_chain`` finds the first entry where that happens. The state store
appends entries (``state/audit.py``); ``shipyard audit verify`` runs the check.
Entries never hold secret values: callers pass names, never values. Every text field
is kept on one line (``one_line``), so no value (a release name, a URL segment) can
forge a second-looking entry where the log is printed a line per entry.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64
DETAIL_MAX = 500  # characters of an entry's detail kept
# Characters that would break or disguise a printed line: C0 and C1 controls (newline, carriage
# return, escape sequences), DEL, and Unicode's own line and paragraph separators.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
FIELDS = ("id", "at", "actor", "action", "env", "target", "source", "result", "detail")


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    actor: str  # user name, or "shipyard" for the control plane's own actions
    action: str  # "deploy", "rollback", "users.add", "secrets.get", ...
    env: str  # environment concerned, "" when none
    target: str  # what was acted on: a release, a user, a secret's name
    source: str  # where the request came from: client address
    result: str  # "ok", "denied", "error"
    detail: str  # a short reason or error message
    prev_hash: str
    hash: str


def one_line(text: str) -> str:
    """``text`` with every character that could break or disguise a line escaped (``\\n``, ``\\x1b``)."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return named.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def entry_hash(prev_hash: str, fields: dict[str, object]) -> str:
    body = json.dumps([fields[k] for k in FIELDS], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    broken_at: int | None = None  # id of the first entry that does not verify
    problem: str = ""


def verify_chain(entries: Iterable[Entry]) -> ChainReport:
    """Check ids are consecutive from 1, each links to the previous hash and hashes to itself."""
    prev_hash, expected_id, count = GENESIS, 1, 0
    for e in entries:
        count += 1
        if e.id != expected_id:
            return ChainReport(count, False, e.id, f"entry {expected_id} is missing (next is {e.id})")
        if e.prev_hash != prev_hash:
            return ChainReport(count, False, e.id, "it does not link to the entry before it")
        fields = {k: getattr(e, k) for k in FIELDS}
        if entry_hash(prev_hash, fields) != e.hash:
            return ChainReport(count, False, e.id, "its content does not match its hash (changed)")
        prev_hash, expected_id = e.hash, expected_id + 1
    return ChainReport(count, True)
