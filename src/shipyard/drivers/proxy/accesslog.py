"""Receives HAProxy's per-request log lines over a Unix stream socket and books them.

HAProxy writes one line per request (``core.traffic.LOG_FORMAT``) into a ring buffer
that forwards it as TCP syslog with octet counting (``<length> <line>``) to the socket
this receiver binds, ``<home>/accesslog/haproxy.sock`` (``render_haproxy_config``). Each
line is parsed into the shared ``TrafficBook``, from which the rollout analysis and the
alerts read exact per-version figures, and appended to ``sink`` (a bounded deque the log
service drains in batches into the central log store; an append is all it costs here).

Only HAProxy can write here: the socket's folder is 0700 (only Shipyard's OS user and
root reach the socket), and a connection is read only if its peer (``SO_PEERCRED``) runs
as that user or root and, once ``trust`` is given, is one of HAProxy's processes. The
UDP port used before took a datagram from any local sender. A stream socket does not
drop bursts as a Unix datagram socket does (at most ``net.unix.max_dgram_qlen``, often 10,
queued datagrams): the kernel's buffer pushes back into HAProxy's ring, which also keeps
the lines written while the control plane restarts (up to its size) and sends them once
this receiver listens again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from pathlib import Path

from shipyard.core.traffic import Hit, TrafficBook, parse_log_line
from shipyard.drivers.loops import Life, Stopping, Task, Worker, stop_all
from shipyard.errors import ProxyError

SINK_LINES = 100_000  # lines kept for the log store if it falls behind; the oldest go first
SOCKET_NAME = "haproxy.sock"
MAX_FRAME = 64 * 1024  # a longer "length" is not HAProxy's (its lines are cut at 512 bytes)
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class AccessLogReceiver:
    def __init__(self, book: TrafficBook, folder: Path) -> None:
        self.book = book
        self.sink: deque[tuple[Hit, str]] = deque(maxlen=SINK_LINES)
        self.malformed = 0
        self.refused = 0  # connections from a peer that is not HAProxy
        self._trusted: Callable[[int], bool] | None = None
        self._accept = Worker("access-log", self._accept_loop, Life(join_timeout=2))
        self._readers: list[Worker] = []
        path = folder / SOCKET_NAME
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
            os.chmod(path, 0o600)
            sock.listen(16)
        except OSError as exc:
            raise ProxyError(
                f"cannot open the access-log socket {path} for HAProxy: {exc}",
                "check that Shipyard's home is writable by its user and its path is short "
                "(a Unix socket path holds at most 107 bytes)",
            ) from None
        sock.settimeout(0.5)
        self._sock = sock
        self.address = str(path)  # HAProxy's ring forwards to unix@<address>

    def trust(self, is_proxy: Callable[[int], bool]) -> None:
        """Read only connections whose peer pid ``is_proxy`` accepts (HAProxy's processes)."""
        self._trusted = is_proxy

    def start(self) -> None:
        self._accept.start()

    def stop(self) -> None:
        stop_all([self._accept, *self._readers])
        self._sock.close()
        with contextlib.suppress(OSError):
            Path(self.address).unlink(missing_ok=True)

    def loops(self) -> list[Task]:
        """The accepting loop and a reader per open connection (``drivers/loops.py``)."""
        return [self._accept, *(r for r in list(self._readers) if r.running)]

    def _read(self, conn: socket.socket) -> None:
        reader = Worker(
            "access-log-conn", lambda stopping: self._read_loop(conn, stopping), Life(join_timeout=2)
        )
        self._readers = [r for r in self._readers if r.running] + [reader]
        reader.start()

    def _accept_loop(self, stopping: Stopping) -> None:
        while not stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._admits(conn):
                self._read(conn)
            else:
                self.refused += 1
                conn.close()

    def _admits(self, conn: socket.socket) -> bool:
        """The peer runs as Shipyard's user (or root) and, when known, is HAProxy."""
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        pid, uid, _gid = _PEERCRED.unpack(cred)
        if uid not in (os.geteuid(), 0):
            return False
        return self._trusted is None or self._trusted(pid)

    def _read_loop(self, conn: socket.socket, stopping: Stopping) -> None:
        conn.settimeout(0.5)
        pending = b""
        with conn:
            while not stopping.is_set():
                try:
                    data = conn.recv(256 * 1024)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    frames, pending = split_frames(pending + data)
                except ValueError:
                    self.malformed += 1
                    return  # not octet-counted syslog: HAProxy reconnects, a stranger is dropped
                for frame in frames:
                    self._book(frame.decode(errors="replace"))

    def _book(self, text: str) -> None:
        hit = parse_log_line(text)
        if hit is None:
            self.malformed += 1
        else:
            self.book.add(hit)
            self.sink.append((hit, text))


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Octet-counted syslog frames (RFC 6587: ``<length> <message>``) and the incomplete rest.

    Raises ValueError on bytes that are not such frames."""
    frames: list[bytes] = []
    at = 0
    while True:
        space = buffer.find(b" ", at, at + 8)
        if space < 0:
            if len(buffer) - at >= 8:
                raise ValueError("no frame length")
            return frames, buffer[at:]
        digits = buffer[at:space]
        if not digits.isdigit() or int(digits) > MAX_FRAME:
            raise ValueError(f"bad frame length {digits!r}")
        end = space + 1 + int(digits)
        if end > len(buffer):
            return frames, buffer[at:]
        frames.append(buffer[space + 1 : end].rstrip(b"\n"))
        at = end
