"""A light connection to the control plane's API, over the standard library's ``http.client``.

The hot commands (``rollback``, ``deploy``; see ``cli/hot.py``) talk to the server through it,
so that a rollback reaches the server without loading httpx first. The rest of the CLI uses
``client.Client`` (httpx), which finds the token and maps an error answer back to an exception
with the same functions as this one (``read_token``, ``error_from``).
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from shipyard.drivers.files import read_json
from shipyard.errors import ERRORS_BY_NAME, AuthError, ServerUnavailable, ShipyardError

TIMEOUT_S = 60.0  # as client.TIMEOUT: a request answers within a minute


class Connection:
    """One keep-alive connection; ``get`` and ``post`` as ``client.Client``'s (``session.Api``)."""

    def __init__(self, home: Path) -> None:
        info = read_json(home / "server.json")
        if not isinstance(info, dict):
            raise ServerUnavailable(
                f"no Shipyard control plane is running for {home}",
                "start it with `shipyard up` (background) or `shipyard server`, or pass --home",
            )
        token = os.environ.get("SHIPYARD_TOKEN", "").strip() or read_token(home / "token")
        self.url = str(info["url"])
        parts = urlsplit(self.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = kind(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT_S)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path``; parameters that are None are left out (not sent as empty strings)."""
        return self._call("GET", path, {k: v for k, v in params.items() if v is not None}, None)

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        return self._call("POST", path, params, json.dumps(body or {}).encode())

    def _call(self, method: str, path: str, params: dict[str, Any], body: bytes | None) -> Any:
        target = f"{path}?{urlencode(params)}" if params else path
        headers = dict(self._headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self._conn.request(method, target, body=body, headers=headers)
            resp = self._conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._conn.close()
            raise ServerUnavailable(
                f"the control plane at {self.url} did not answer ({type(exc).__name__})",
                "check it with `shipyard status`; start it with `shipyard up`",
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:  # not Shipyard's answer: a proxy in between, or a crash page
            text = " ".join(raw.decode(errors="replace").split())
            raise ShipyardError(
                f"the control plane at {self.url} answered {resp.status} with something that is not "
                f"JSON: {text[:200] or '(empty)'}",
                "is --home pointing at a Shipyard server? see its log (<home>/server.log)",
            ) from None
        if resp.status >= 400:
            raise error_from(data, resp.status)
        return data


def read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        raise AuthError(
            f"cannot read the API token at {path}",
            "set SHIPYARD_TOKEN to your token (`shipyard users add` prints one), "
            "or run the CLI as the user that started the server",
        ) from None


def error_from(data: Any, status: int) -> ShipyardError:
    """The exception an error answer stands for (by its ``kind``, else by its status)."""
    if isinstance(data, dict) and "error" in data:
        kind = ERRORS_BY_NAME.get(str(data.get("kind"))) or next(
            (c for c in ERRORS_BY_NAME.values() if c.status == status), ShipyardError
        )
        return kind(str(data["error"]), str(data.get("hint") or ""))
    return ShipyardError(f"the control plane answered {status}: {data}", "")
