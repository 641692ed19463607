"""The data-plane driver interface. HAProxy implements it today; another proxy can later.

The engine only ever calls these methods, always with the whole desired layout,
so every call is idempotent and a restarted control plane can simply call
``sync`` again.
"""

from __future__ import annotations

from typing import Protocol

from shipyard.core.proxy_layout import ProxyLayout, ServerState


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

    def stop(self) -> None:
        """Stop the proxy."""

    def is_running(self) -> bool: ...
