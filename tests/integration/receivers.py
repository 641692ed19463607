"""Real local receivers for notification tests: an SMTP server (aiosmtpd, plain, STARTTLS or
TLS with a self-signed certificate) and an HTTP server that keeps what is POSTed to it."""

from __future__ import annotations

import json
import ssl
import threading
import time
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from shipyard.drivers.certs.x509 import self_signed as x509_self_signed


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    cert, key = x509_self_signed(("127.0.0.1",), days=1)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_text(cert)
    key_file.write_text(key)
    return cert_file, key_file


class Mailbox:
    """A real SMTP server on 127.0.0.1 keeping every message it accepted."""

    def __init__(self, port: int, tls: str = "none", cert: tuple[Path, Path] | None = None) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        box = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                box.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        kwargs: dict[str, Any] = {}
        if tls != "none":
            assert cert is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            if tls == "starttls":
                kwargs = {"tls_context": context, "require_starttls": True}
            else:
                kwargs = {"ssl_context": context}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
        if tls == "tls":
            # aiosmtpd's own readiness probe does not speak TLS: wait for the port instead
            self.controller.ready_timeout = 5
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


class Hook:
    """A real HTTP server on 127.0.0.1: keeps each POSTed JSON body with its path; answers
    ``status`` (and sleeps ``delay`` first, to play a slow receiver)."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                hook.received.append((self.path, json.loads(body)))
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [body for p, body in list(self.received) if path is None or p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
