"""The pure parts of the swarm tasks' logs: the Engine's framed answer, and the lines after a
position with the instance's start marker first."""

from __future__ import annotations

import struct

from shipyard.core.logline import Source
from shipyard.drivers.runtime.container_logs import lines_after
from shipyard.drivers.runtime.logfiles import OutputStream
from shipyard.drivers.runtime.task_logs import payload

STREAM = OutputStream("swarm:abc:stdout", "dev", "blue-0", "stdout")


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(data)) + data


def test_the_frames_payloads_are_joined() -> None:
    assert payload(frame(1, b"one\n") + frame(1, b"two\nthr") + frame(1, b"ee\n")) == b"one\ntwo\nthree\n"


def test_a_cut_frame_keeps_what_arrived() -> None:
    assert payload(frame(1, b"one\n") + frame(1, b"two\n")[:6]) == b"one\n"


def test_the_lines_open_with_the_marker_then_continue_after_the_position() -> None:
    lines, at = lines_after(b"a\nb\npartial", "7", "task abc", STREAM, None) or ([], None)
    assert lines == [b"--- shipyard: starting instance 7 in task abc", b"a", b"b"]
    assert at is not None and at.offset == len(b"--- shipyard: starting instance 7 in task abc\na\nb\n")
    more = lines_after(b"a\nb\npartial line\n", "7", "task abc", STREAM, at)
    assert more is not None and more[0] == [b"partial line"]
    assert lines_after(b"a\nb\npartial line\n", "7", "task abc", STREAM, more[1]) is None


def test_a_log_shorter_than_the_position_is_read_again() -> None:
    known = Source(STREAM.key, 0, 10_000, None, False)
    got = lines_after(b"fresh\n", None, "task abc", STREAM, known)
    assert got is not None and got[0] == [b"fresh"]
