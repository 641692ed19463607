"""The access-log channel: octet-counted frames, and who may write lines into the book."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.traffic import TrafficBook
from shipyard.drivers.proxy.accesslog import AccessLogReceiver, split_frames

LINE = b"SY fe_dev blue-0 500 3 1764590400.042 -- GET /forged"


@pytest.mark.parametrize(
    ("buffer", "frames", "rest"),
    [
        (b"", [], b""),
        (b"3 abc", [b"abc"], b""),
        (b"3 abc4 de", [b"abc"], b"4 de"),
        (b"3 abc2 de\n", [b"abc", b"de"], b"\n"),
        (b"5 ab c\n", [b"ab c"], b""),  # a trailing newline inside the frame is dropped
        (b"12", [], b"12"),  # the length itself not complete yet
    ],
)
def test_octet_counted_frames_are_split_and_the_rest_kept(
    buffer: bytes, frames: list[bytes], rest: bytes
) -> None:
    assert split_frames(buffer) == (frames, rest)


@pytest.mark.parametrize("buffer", [b"x abc", b"SY fe_dev blue-0 500 3 1.0 -- GET /", b"99999999 a", b"-1 a"])
def test_bytes_that_are_not_octet_counted_frames_are_refused(buffer: bytes) -> None:
    with pytest.raises(ValueError, match="frame length"):
        split_frames(buffer)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[AccessLogReceiver]:
    made = AccessLogReceiver(TrafficBook(), tmp_path / "accesslog")
    made.start()
    yield made
    made.stop()


def _send(address: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(address)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a refused sender
            sock.sendall(b"%d %s" % (len(LINE), LINE))


def _settled(receiver: AccessLogReceiver, booked: int = 0, refused: int = 0) -> None:
    for _ in range(200):  # bounded wait for the receiver's threads
        if receiver.book.received >= booked and receiver.refused >= refused:
            return
        time.sleep(0.01)


def test_the_socket_is_in_a_folder_only_shipyards_user_can_enter(receiver: AccessLogReceiver) -> None:
    folder = Path(receiver.address).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(receiver.address).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(receiver.address).st_mode)


def test_lines_from_haproxy_are_booked(receiver: AccessLogReceiver) -> None:
    receiver.trust(lambda pid: pid == os.getpid())  # here this test plays HAProxy
    _send(receiver.address)
    _settled(receiver, booked=1)
    assert receiver.book.received == 1
    assert [hit.status for hit, _ in receiver.sink] == [500]


def test_a_process_that_is_not_haproxy_is_refused(receiver: AccessLogReceiver) -> None:
    receiver.trust(lambda pid: False)  # no process of this test is HAProxy
    _send(receiver.address)  # the kernel accepts the bytes; the receiver never reads them
    _settled(receiver, refused=1)
    assert receiver.refused == 1
    assert receiver.book.received == 0
    assert not receiver.sink


def test_its_loops_are_the_accepting_one_and_a_reader_per_open_connection(tmp_path: Path) -> None:
    receiver = AccessLogReceiver(TrafficBook(), tmp_path / "accesslog")
    receiver.trust(lambda pid: pid == os.getpid())
    receiver.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(receiver.address)
            sock.sendall(b"%d %s" % (len(LINE), LINE))
            _settled(receiver, booked=1)
            states = [s.state() for s in receiver.loops()]
            assert [(s.name, s.running, s.period) for s in states] == [
                ("access-log", True, None),
                ("access-log-conn", True, None),
            ]
        started = time.monotonic()
    finally:
        receiver.stop()
    assert time.monotonic() - started < 2.0  # stop wakes the accepting loop and the reader at once
    assert [(s.name, s.running, s.stopping) for s in (t.state() for t in receiver.loops())] == [
        ("access-log", False, True)
    ]


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root and a system python3"
)
def test_another_os_user_cannot_reach_the_socket() -> None:
    home = Path(tempfile.mkdtemp(prefix="sy-accesslog-"))
    home.chmod(0o711)  # the home can be crossed: only the receiver's own folder keeps strangers out
    receiver = AccessLogReceiver(TrafficBook(), home / "accesslog")
    receiver.start()
    try:
        assert _forge_as_nobody(receiver.address) == 13  # EACCES at the 0700 folder
        # with the folder and the socket opened up, the receiver still reads only its user
        os.chmod(Path(receiver.address).parent, 0o755)
        os.chmod(receiver.address, 0o777)
        assert _forge_as_nobody(receiver.address) == 0
        _settled(receiver, refused=1)
        assert receiver.refused == 1
        assert receiver.book.received == 0
    finally:
        receiver.stop()
        shutil.rmtree(home)


def _forge_as_nobody(address: str) -> int:
    forge = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        f"    s.sendall({b'%d ' % len(LINE) + LINE!r})\n"
        "except PermissionError:\n"
        "    sys.exit(13)\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    pass  # connected, and dropped by the receiver before the line was out\n"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-c", forge, address], user="nobody", cwd="/", capture_output=True, check=False
    )
    assert done.returncode in (0, 13), done.stderr
    return done.returncode
