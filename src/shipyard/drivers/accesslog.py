"""Receives HAProxy's per-request log lines over UDP on 127.0.0.1 and books them.

HAProxy sends one line per request (``core.traffic.LOG_FORMAT``) to the port this
receiver binds (a free one, chosen at start and written into HAProxy's config);
this thread parses each line into the shared ``TrafficBook``, from which the rollout
analysis reads exact per-version figures, and appends it to ``sink`` (a bounded deque the
log service drains in batches into the central log store; an append is all it costs here).
UDP rather than a Unix datagram socket: Linux queues at most ``net.unix.max_dgram_qlen``
(often 10) datagrams on the latter, so bursts were lost, while a UDP socket queues up to
its receive buffer (asked at 8 MiB, capped by ``net.core.rmem_max``). When the control plane is down HAProxy's
lines are simply dropped; it keeps serving.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque

from shipyard.core.traffic import Hit, TrafficBook, parse_log_line
from shipyard.errors import ProxyError

RECEIVE_BUFFER = 8 * 1024 * 1024
SINK_LINES = 100_000  # lines kept for the log store if it falls behind; the oldest go first


class AccessLogReceiver:
    def __init__(self, book: TrafficBook, host: str = "127.0.0.1") -> None:
        self.book = book
        self.sink: deque[tuple[Hit, str]] = deque(maxlen=SINK_LINES)
        self.malformed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((host, 0))
        except OSError as exc:
            raise ProxyError(
                f"cannot open a UDP port on {host} for HAProxy's access log: {exc}",
                "check that the loopback interface is up",
            ) from None
        sock.settimeout(0.5)
        self._sock = sock
        self.address = f"{host}:{sock.getsockname()[1]}"  # HAProxy's `log` target

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            hit = parse_log_line(text)
            if hit is None:
                self.malformed += 1
            else:
                self.book.add(hit)
                self.sink.append((hit, text))
