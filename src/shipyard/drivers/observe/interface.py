"""The notification-driver interface the engine depends on (``receivers.Dispatcher`` implements it).

The engine's notification service (``engine/observe/notifying.py``) routes and renders; it
hands each message to a ``Sender``, which delivers it in the background and reports the
``Outcome`` to the callback. Only the composition root names the implementation, so a test
can give the service a sender that records instead of delivering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shipyard.core.messages import Message
from shipyard.drivers.observe.receivers import Outcome
from shipyard.manifest.alerts import Receiver

__all__ = ["Outcome", "Report", "Sender"]

Report = Callable[[Outcome], None]


class Sender(Protocol):
    def send(self, name: str, receiver: Receiver, message: Message, on_result: Report) -> None:
        """Queue one delivery to ``receiver`` (named ``name``) and return at once."""

    def close(self) -> None:
        """Stop delivering; what is still queued is dropped."""
