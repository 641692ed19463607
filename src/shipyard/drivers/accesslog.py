"""Receives HAProxy's per-request log lines on a Unix datagram socket and books them.

HAProxy sends one line per request (``core.traffic.LOG_FORMAT``) to
``<home>/proxy/log.sock``; this thread parses each line into the shared
``TrafficBook``, from which the rollout analysis reads exact per-version figures.
When the control plane is down HAProxy's lines are simply dropped; it keeps serving.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from shipyard.core.traffic import TrafficBook, parse_log_line
from shipyard.errors import ProxyError

RECEIVE_BUFFER = 8 * 1024 * 1024


class AccessLogReceiver:
    def __init__(self, path: Path, book: TrafficBook) -> None:
        self.path = path
        self.book = book
        self.malformed = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if len(str(self.path).encode()) > 100:
            raise ProxyError(
                f"the access-log socket path {self.path} is too long for a Unix socket",
                "use a shorter Shipyard home (--home or SHIPYARD_HOME)",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind(str(self.path))
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._loop, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
        self.path.unlink(missing_ok=True)

    def _loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            hit = parse_log_line(data.decode(errors="replace"))
            if hit is None:
                self.malformed += 1
            else:
                self.book.add(hit)
