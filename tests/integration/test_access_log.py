"""HAProxy's access log on a real Shipyard: only HAProxy's lines reach the traffic book and
the central logs (a forged line from another process or OS user does not), and the lines
HAProxy writes while the control plane is down arrive once it is back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration

FORGED = b"SY fe_dev blue-0 500 3 %.3f -- GET /forged-by-a-stranger" % time.time()
FORGE = (  # a sender that is not HAProxy: writes one octet-counted line to the socket
    "import socket, sys\n"
    "line = sys.argv[2].encode()\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "try:\n"
    "    s.connect(sys.argv[1])\n"
    "    s.sendall(b'%d ' % len(line) + line)\n"
    "except PermissionError:\n"
    "    sys.exit(13)\n"
    "except (BrokenPipeError, ConnectionResetError):\n"
    "    pass  # the receiver hung up first\n"
)


def _get(sy: Shipyard, path: str) -> None:
    """One request through HAProxy (the example app answers 404 on these paths)."""
    assert httpx.get(f"http://127.0.0.1:{sy.port}{path}", timeout=5, trust_env=False).status_code == 404


def _booked(sy: Shipyard) -> float:
    """Access lines in the control plane's traffic book (Prometheus counter)."""
    with sy.api() as api:
        text = api.get("/metrics").text
    return next(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "shipyard_access_log_lines_total"
    )


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g}s")
        time.sleep(0.2)


def _forge(socket_path: Path, user: str | None) -> int:
    done = subprocess.run(
        ["/usr/bin/python3", "-c", FORGE, str(socket_path), FORGED.decode()],
        user=user,
        cwd="/",
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 13), done.stderr
    return done.returncode


def _forge_udp(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(FORGED, ("127.0.0.1", port))


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root and a system python3"
)
def test_only_haproxy_writes_access_lines(shipyard: Shipyard) -> None:
    with shipyard.home_outside_tmp("sy-accesslog-"):  # others can pass through the home itself
        shipyard.up()
        shipyard.cli("deploy")
        sock = shipyard.home / "accesslog" / "haproxy.sock"
        config = (shipyard.home / "proxy" / "haproxy.cfg").read_text()
        assert "unix@../accesslog/haproxy.sock " in config and "log 127.0.0.1:" not in config
        _wait(lambda: _booked(shipyard) == 0, 5, "no request yet")

        assert _forge(sock, "nobody") == 13  # another OS user cannot reach the socket
        assert _forge(sock, None) == 0  # Shipyard's user, but not HAProxy: connected, never read
        for port in range(5140, 5150):  # and nothing takes datagrams on a UDP port any more
            _forge_udp(port)
        for i in range(20):
            _get(shipyard, f"/real-{i}")
        _wait(lambda: _booked(shipyard) >= 20, 10, "HAProxy's 20 lines were not booked")
        time.sleep(0.5)
        assert _booked(shipyard) == 20  # exactly HAProxy's lines, no forged one
        _wait(
            lambda: "GET /real-19 404" in shipyard.cli("logs", "dev", "--grep", "real-19").stdout,
            10,
            "the last real line was not stored",
        )
        assert shipyard.cli("logs", "dev", "--grep", "forged").stdout.strip() == ""


def test_lines_written_while_the_control_plane_is_down_arrive_when_it_is_back(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    pid = shipyard.server_pid()
    os.kill(pid, signal.SIGKILL)
    shipyard.wait_server_gone(pid)
    for i in range(30):  # HAProxy keeps serving; its ring keeps the lines
        _get(shipyard, f"/down-{i}")
    shipyard.up()
    _wait(lambda: _booked(shipyard) >= 30, 20, "the 30 lines written while down did not arrive")
    assert _booked(shipyard) == 30

    def stored() -> int:
        return shipyard.cli("logs", "dev", "--level", "warn", "-n", "100").stdout.count("GET /down-")

    _wait(lambda: stored() == 30, 10, "the 30 lines were not all stored")
