"""A light connection to the control plane's API: HTTP/1.1 over a plain socket.

The hot commands (``rollback``, ``deploy``; see ``cli/hot.py``) talk to the server through it,
so that a rollback reaches the server without loading httpx first, nor ``http.client``, whose
imports (``email.parser``, ``ssl``) cost more than the rest of the fast path: the API listens on
plain HTTP on loopback, and its answers are JSON with a Content-Length. The rest of the CLI uses
``client.Client`` (httpx), which finds the token and maps an error answer back to an exception
with the same functions as this one (``read_token``, ``error_from``).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from shipyard.drivers.files import read_json
from shipyard.errors import ERRORS_BY_NAME, AuthError, ServerUnavailable, ShipyardError

TIMEOUT_S = 60.0  # as client.TIMEOUT: a request answers within a minute


class Connection:
    """One keep-alive connection; ``get`` and ``post`` as ``client.Client``'s (``session.Api``)."""

    def __init__(self, home: Path) -> None:
        self.url, token = server_of(home)
        parts = urlsplit(self.url)
        if parts.scheme != "http":
            raise ServerUnavailable(
                f"the fast path speaks plain HTTP only, and the control plane is at {self.url}",
                "run the command through the full CLI: `python -m shipyard.cli.main ...`",
            )
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._prefix = parts.path.rstrip("/")  # an app served beside others: /apps/NAME
        self._head = f"Host: {parts.netloc}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n"
        self._sock: socket.socket | None = None

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path``; parameters that are None are left out (not sent as empty strings)."""
        return self._call("GET", path, {k: v for k, v in params.items() if v is not None}, None)

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        return self._call("POST", path, params, json.dumps(body or {}).encode())

    def _call(self, method: str, path: str, params: dict[str, Any], body: bytes | None) -> Any:
        target = self._prefix + (f"{path}?{urlencode(params)}" if params else path)
        head = f"{method} {target} HTTP/1.1\r\n{self._head}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        request = (head + "\r\n").encode() + (body or b"")
        try:
            status, raw = self._exchange(request)
        except OSError as exc:
            self._close()
            raise ServerUnavailable(
                f"the control plane at {self.url} did not answer ({type(exc).__name__})",
                "check it with `shipyard status`; start it with `shipyard up`",
            ) from None
        try:
            data = json.loads(raw)
        except ValueError:  # not Shipyard's answer: a proxy in between, or a crash page
            text = " ".join(raw.decode(errors="replace").split())
            raise ShipyardError(
                f"the control plane at {self.url} answered {status} with something that is not "
                f"JSON: {text[:200] or '(empty)'}",
                "is --home pointing at a Shipyard server? see its log (<home>/server.log)",
            ) from None
        if status >= 400:
            raise error_from(data, status)
        return data

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request`` on the kept-alive socket (a new one if the server closed it since)."""
        for attempt in (1, 2):
            fresh = self._sock is None
            if self._sock is None:
                self._sock = socket.create_connection(self._address, timeout=TIMEOUT_S)
            try:
                self._sock.sendall(request)
                return self._answer(self._sock.makefile("rb"))
            except (ConnectionError, EOFError):
                self._close()
                if fresh or attempt == 2:
                    raise ConnectionError("the connection closed") from None
        raise AssertionError("unreachable")

    def _answer(self, stream: Any) -> tuple[int, bytes]:
        line = stream.readline(65537)
        if not line:
            raise EOFError
        status = int(line.split(None, 2)[1])
        length, chunked, close = 0, False, False
        while (header := stream.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.lower() == "close"
        body = _chunked(stream) if chunked else stream.read(length)
        if close:
            self._close()
        return status, body

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _chunked(stream: Any) -> bytes:
    parts = []
    while size := int(stream.readline(65537).split(b";", 1)[0] or b"0", 16):
        parts.append(stream.read(size))
        stream.readline(65537)
    while stream.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    return b"".join(parts)


def server_of(home: Path) -> tuple[str, str]:
    """The URL of ``home``'s control plane (``server.json``) and the token to call it with
    (``$SHIPYARD_TOKEN``, else ``<home>/token``)."""
    info = read_json(home / "server.json")
    if not isinstance(info, dict):
        raise ServerUnavailable(
            f"no Shipyard control plane is running for {home}",
            "start it with `shipyard up` (background) or `shipyard server`, or pass --home",
        )
    token = os.environ.get("SHIPYARD_TOKEN", "").strip() or read_token(home / "token")
    return str(info["url"]), token


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
