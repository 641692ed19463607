"""The CLI's connection to the control plane: finds its URL and token, maps errors back.

The token is $SHIPYARD_TOKEN when set (each person their own), else <home>/token (the
bootstrap admin's, readable only by the user who started the server).

Used by every CLI command that talks to a running server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from shipyard.cli.connection import error_from as _error_from
from shipyard.cli.connection import server_of
from shipyard.errors import ServerUnavailable, ShipyardError

# Every request answers within a minute: a long operation (a backup, restore, verify, drill,
# migration) is a job the API answers at once, which the CLI then follows by polling
# (``cli/follow.py``), however long it takes.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Client:
    def __init__(self, home: Path) -> None:
        self.url, token = server_of(home)
        self._http = httpx.Client(
            base_url=self.url,
            trust_env=False,
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {token}"},
        )

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path``; parameters that are None are left out (not sent as empty strings)."""
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        """POST ``path`` (a long operation answers at once with its job: see ``cli/follow.py``)."""
        return self._call("POST", path, json=body or {}, params=params)

    def stream(self, path: str, **params: Any) -> Iterator[bytes]:
        """A GET whose answer is read piece by piece (``shipyard logs export``)."""
        try:
            with self._http.stream("GET", path, params=params, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error_from(resp.json(), resp.status_code)
                yield from resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise ServerUnavailable(
                f"the control plane at {self.url} did not answer ({type(exc).__name__})",
                "check it with `shipyard status`; start it with `shipyard up`",
            ) from None

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise ServerUnavailable(
                f"the control plane at {self.url} did not answer ({type(exc).__name__})",
                "check it with `shipyard status`; start it with `shipyard up`",
            ) from None
        try:
            data = resp.json()
        except ValueError:  # not Shipyard's answer: a proxy in between, or a crash page
            text = " ".join(resp.text.split())
            raise ShipyardError(
                f"the control plane at {self.url} answered {resp.status_code} with something that is not "
                f"JSON: {text[:200] or '(empty)'}",
                "is --home pointing at a Shipyard server? see its log (<home>/server.log)",
            ) from None
        if resp.status_code >= 400:
            raise _error_from(data, resp.status_code)
        return data
