"""Delivers notification events as JSON POSTs to webhook URLs, off the caller's thread.

Each event is tried up to three times (1 s, then 3 s apart); the outcome is
reported to ``on_result`` so the engine can record it next to the deployment.
Richer channels (email, chat, paging) come with the observability work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

RETRY_DELAYS = (1.0, 3.0)

Report = Callable[[bool, str], None]


class WebhookNotifier:
    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._threads: list[threading.Thread] = []

    def send(self, url: str, payload: dict[str, Any], on_result: Report) -> None:
        thread = threading.Thread(
            target=self._deliver, args=(url, payload, on_result), name="webhook", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self, timeout: float = 10.0) -> None:
        """Wait for deliveries in flight (used at shutdown)."""
        for thread in self._threads:
            thread.join(timeout)

    def _deliver(self, url: str, payload: dict[str, Any], on_result: Report) -> None:
        problem = ""
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS), start=1):
            time.sleep(delay)
            try:
                resp = httpx.post(url, json=payload, timeout=self.timeout, trust_env=False)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if resp.status_code < 300:
                on_result(True, f"webhook {url} answered {resp.status_code} (attempt {attempt})")
                return
            problem = f"answered {resp.status_code}"
        on_result(False, f"webhook {url} failed after {attempt} attempts: {problem}")
