"""HTTP probes of app instances (health checks and smoke checks), through httpx.

Called by the engine's health gate and smoke step; talks straight to one
instance's endpoint (``host:port``, as the runtime gave it), never through the proxy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None
    seconds: float
    error: str = ""
    body: str = ""


class Prober:
    def __init__(self) -> None:
        self._client = httpx.Client(trust_env=False)

    def get(self, endpoint: str, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        started = time.monotonic()
        try:
            resp = self._client.get(f"http://{endpoint}{path}", timeout=timeout)
        except httpx.HTTPError as exc:
            return ProbeResult(False, None, time.monotonic() - started, _describe(exc))
        elapsed = time.monotonic() - started
        text = resp.text[:2000]
        ok = resp.status_code == expect
        err = "" if ok else f"answered {resp.status_code}, expected {expect}"
        return ProbeResult(ok, resp.status_code, elapsed, err, text)

    def close(self) -> None:
        self._client.close()


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
