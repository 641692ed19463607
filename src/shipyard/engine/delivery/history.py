"""What the API reads of deliveries: deployments with their events and rollout figures, releases,
and the deployments waiting for approval. ``server/api.py`` and ``server/delivery.py`` call it
(``Engine.history``), so no route reaches the state store itself.
"""

from __future__ import annotations

from typing import Any

from shipyard.core.approval import Request
from shipyard.core.records import Deployment, Release
from shipyard.state.store import StateStore


class History:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    def deployments(self, env: str | None, limit: int) -> list[Deployment]:
        """The newest ``limit`` deployments, of ``env`` or of every environment."""
        return self._store.deployments(env, limit)

    def latest(self) -> dict[str, Deployment]:
        """Each environment's newest deployment (its steps and approval left out), in one read."""
        return self._store.latest_deployments()

    def deployment(self, dep_id: int) -> Deployment:
        return self._store.deployment(dep_id)  # NotFoundError names the fix

    def events(self, dep_id: int, after: int) -> list[dict[str, Any]]:
        return self._store.events(dep_id, after)

    def figures(self, dep_id: int, after: int) -> dict[str, Any]:
        """A progressive rollout's samples after the cursor ``after``, and its state."""
        return {"samples": self._store.samples(dep_id, after), "rollout": self._store.rollout(dep_id)}

    def releases(self) -> list[Release]:
        return self._store.releases()

    def waiting_approval(self) -> list[Request]:
        return self._store.approvals.waiting()
