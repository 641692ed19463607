"""The data-plane driver interfaces. HAProxy implements them today; another proxy can later.

The engine only ever calls these methods, always with the whole desired layout,
so every call is idempotent and a restarted control plane can simply call
``sync`` again.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from shipyard.core.proxy_layout import ProxyLayout, ServerState
from shipyard.core.traffic import Hit
from shipyard.drivers.loops import Task


class Proxy(Protocol):
    def sync(self, layout: ProxyLayout) -> None:
        """Make the running proxy route exactly as ``layout`` says (start it if needed).

        Weight changes happen at run time without dropping a request; structural
        changes (new environment, other slot count) may reload hitlessly.
        """

    def ensure_running(self) -> bool:
        """Restart the proxy with the last synced layout if it died; True if it restarted."""

    def server_states(self) -> list[ServerState]:
        """Every server's status, weight and current sessions."""

    def queued(self) -> dict[str, int]:
        """Requests waiting in each backend's queues (the backend's and its servers'), by name."""

    def stop(self) -> None:
        """Stop the proxy."""

    def is_running(self) -> bool: ...

    def publish_challenge(self, token: str, answer: str) -> None:
        """Answer ``/.well-known/acme-challenge/<token>`` with ``answer`` (an ACME key
        authorization) on every listener with ``tls: acme``, at once and with no reload."""

    def withdraw_challenge(self, token: str) -> None:
        """Stop answering ``token`` (the order is done or failed)."""


class AccessLog(Protocol):
    """The proxy's per-request lines as they arrive (``accesslog.AccessLogReceiver``).

    Each line is booked into the shared ``TrafficBook`` on arrival and kept in ``sink`` for the
    log service, which drains it from the left.
    """

    sink: deque[tuple[Hit, str]]

    def start(self) -> None:
        """Start receiving."""

    def stop(self) -> None:
        """Stop receiving and close the socket."""

    def loops(self) -> list[Task]:
        """Its background tasks (the socket's readers), for ``/health``."""
