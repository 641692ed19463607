"""What the API reads of identity and audit: the users, and the audit trail with its chain check.

``server/api.py`` (``register_identity``) calls it as ``Engine.directory``; changes to users
and tokens go through ``access.Access``, which audits them.
"""

from __future__ import annotations

from shipyard.core.audit import ChainReport, Entry, verify_chain
from shipyard.state.store import StateStore


class Directory:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def users(self) -> list[dict[str, object]]:
        return self._store.identity.users()

    def audit(self, actor: str | None = None, env: str | None = None) -> list[Entry]:
        """The audit trail, oldest first, of one actor and/or environment when named."""
        return self._store.audit.entries(actor=actor, env=env)

    def check_audit(self) -> ChainReport:
        """Whether the whole trail is intact (each entry links to and hashes like the one before)."""
        return verify_chain(self._store.audit.entries())
