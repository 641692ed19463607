"""The dashboard's sessions: a user's token exchanged for a random session id, kept server-side.

``server/dashboard/web.py`` creates one at login and looks one up on every page. The browser
holds only the session id (in an HttpOnly, SameSite=Strict cookie); this store keys sessions by
the id's SHA-256, so the ids themselves are never kept. A session holds the user's token in
memory (never on disk), so every page resolves it again through the access service: a token
revoked or a user disabled ends their sessions at once. Sessions end after ``idle`` without a
request, ``lifetime`` after login, at logout, and when the control plane restarts. Each carries
its own CSRF token, which every form posts back (``csrf_matches``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

IDLE = 30 * 60.0  # seconds without a request
LIFETIME = 12 * 3600.0  # seconds after login, however busy
MAX_SESSIONS = 10_000  # the oldest go first past this


@dataclass
class Session:
    token: str  # the user's API token: resolved again on every request
    csrf: str
    created: float
    seen: float

    def __repr__(self) -> str:  # never print the token
        return f"Session(created={self.created}, seen={self.seen})"


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_matches(session: Session, given: str) -> bool:
    """Whether a form's CSRF token is this session's (compared in constant time)."""
    return bool(given) and hmac.compare_digest(session.csrf.encode(), given.encode())


class Sessions:
    """Sessions by the hash of their id; thread-safe (pages run on worker threads)."""

    def __init__(
        self, idle: float = IDLE, lifetime: float = LIFETIME, clock: Callable[[], float] = time.time
    ) -> None:
        self.idle = idle
        self.lifetime = lifetime
        self.clock = clock
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, token: str) -> tuple[str, Session]:
        """A new session for ``token``: its id (for the cookie, not kept here) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(token=token, csrf=secrets.token_urlsafe(32), created=now, seen=now)
        with self._lock:
            self._forget_expired(now)
            while len(self._by_hash) >= MAX_SESSIONS:
                del self._by_hash[next(iter(self._by_hash))]
            self._by_hash[digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The live session of ``session_id``, its idle clock restarted; None if none or expired."""
        if not session_id:
            return None
        now = self.clock()
        key = digest(session_id)
        with self._lock:
            session = self._by_hash.get(key)
            if session is None:
                return None
            if self.expired(session, now):
                del self._by_hash[key]
                return None
            session.seen = now
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._by_hash.pop(digest(session_id), None)

    def expired(self, session: Session, now: float) -> bool:
        return now - session.seen > self.idle or now - session.created > self.lifetime

    def __len__(self) -> int:
        return len(self._by_hash)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, s in self._by_hash.items() if self.expired(s, now)]:
            del self._by_hash[key]
