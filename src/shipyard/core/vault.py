"""The secrets vault's rules, as pure decisions over plain records.

What a secret's name may be, when a secret is due for rotation, which old versions a write
drops, when a deleted secret may be purged, and what a check-and-set write expects. The
vault service (``engine/trust/vault.py``) calls these; the state store keeps the records
(``state/vault.py``); values never pass through here.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Literal

from shipyard.errors import ConflictError, NotFoundError, VaultError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED = frozenset({"PORT", "PATH", "HOME", "LANG", "VIRTUAL_ENV"})
RESERVED_PREFIX = "SHIPYARD_"
DAY = 86400.0
MASKED = "**********"

Due = Literal["overdue", "due"]


class Secret:
    """A secret value that never prints: ``repr``, ``str`` and f-strings show ``**********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext, for the one place that must hand it on (an instance's environment)."""
        return self._value

    def __repr__(self) -> str:
        return MASKED

    def __str__(self) -> str:
        return MASKED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class SecretMeta:
    """Everything the vault knows of a secret but its values."""

    env: str
    name: str
    version: int  # the current version; versions count up from 1 and are never reused
    created_at: float
    created_by: str
    updated_at: float  # when the current version was written
    updated_by: str
    rotate_every: float | None = None  # seconds between rotations, if the secret has a policy
    expires_at: float | None = None
    deleted_at: float | None = None
    deleted_by: str | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items()}


def check_name(name: str) -> str:
    """A secret becomes an environment variable of the app, so its name must be a valid one."""
    if not NAME.match(name):
        raise VaultError(
            f"invalid secret name {name!r}",
            "a secret is given to the app as an environment variable: use letters, digits and _, "
            "not starting with a digit, at most 128 characters (for example DATABASE_PASSWORD)",
        )
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise VaultError(
            f"the secret name {name!r} is reserved",
            f"Shipyard sets {', '.join(sorted(RESERVED))} and {RESERVED_PREFIX}* itself; pick another name",
        )
    return name


def due_at(meta: SecretMeta) -> float | None:
    """When the secret must be rotated or replaced: the earlier of its rotation date and expiry."""
    dates = [d for d in (meta.expires_at,) if d is not None]
    if meta.rotate_every is not None:
        dates.append(meta.updated_at + meta.rotate_every)
    return min(dates) if dates else None


def due_state(meta: SecretMeta, now: float, within: float) -> Due | None:
    """``overdue`` past its date, ``due`` within ``within`` seconds of it, else None."""
    when = due_at(meta)
    if when is None or meta.deleted:
        return None
    if when <= now:
        return "overdue"
    if when <= now + within:
        return "due"
    return None


def versions_to_drop(versions: list[int], keep: int) -> list[int]:
    """The versions a write removes so that only the newest ``keep`` remain."""
    ordered = sorted(versions)
    return ordered[: max(0, len(ordered) - keep)]


def purge_after(meta: SecretMeta, retention: float) -> float | None:
    """When a deleted secret is destroyed on its own; None for one that is not deleted."""
    return None if meta.deleted_at is None else meta.deleted_at + retention


def check_write(meta: SecretMeta | None, env: str, name: str, cas: int | None) -> int:
    """The version a write creates, or an error: a deleted secret, or a stale check-and-set.

    ``cas`` is the version the writer last saw: 0 for "must not exist yet", None for no check.
    """
    if meta is not None and meta.deleted:
        raise ConflictError(
            f"secret {name!r} of {env!r} is deleted (by {meta.deleted_by})",
            f"recover it with `shipyard secrets recover {env} {name}`, or purge it for good first",
        )
    current = meta.version if meta is not None else 0
    if cas is not None and cas != current:
        seen = "no such secret" if cas == 0 else f"version {cas}"
        now = f"version {current}" if current else "no such secret"
        raise ConflictError(
            f"secret {name!r} of {env!r} changed since you read it: you saw {seen}, it is now {now}",
            f"read it again (`shipyard secrets history {env} {name}`) and retry with --cas {current}",
        )
    return current + 1


def require(meta: SecretMeta | None, env: str, name: str, *, deleted: bool = False) -> SecretMeta:
    """The secret's record, or a NotFoundError; ``deleted`` selects which state is expected."""
    if meta is None:
        raise NotFoundError(
            f"no secret {name!r} in environment {env!r}",
            f"see `shipyard secrets list {env}`; names are case-sensitive",
        )
    if meta.deleted and not deleted:
        raise NotFoundError(
            f"secret {name!r} of {env!r} is deleted",
            f"recover it with `shipyard secrets recover {env} {name}`",
        )
    if deleted and not meta.deleted:
        raise ConflictError(
            f"secret {name!r} of {env!r} is not deleted",
            f"delete it first with `shipyard secrets delete {env} {name}`",
        )
    return meta
