"""The process runtime behind the ``Runtime`` interface, on real processes: what the engine gets
(an endpoint, an opaque ref) and what stays inside (the pid, the port, the log files)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard.core.records import Release
from shipyard.drivers.ports import port_is_free
from shipyard.drivers.runtime.interface import InstanceSpec, OneOff
from shipyard.drivers.runtime.supervisor import LocalRef, LocalRuntime

LINGER = 'echo "listening on $PORT as $SHIPYARD_COLOUR"; echo oops >&2; exec sleep 30'


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    made = LocalRuntime(tmp_path / "home", tmp_path / "home" / "envs")
    yield made
    for ref in made.orphans(set()):
        made.stop(ref, 2.0)


def release(tmp_path: Path) -> Release:
    root = tmp_path / "releases" / "r1"
    if not root.exists():
        (root / "app").mkdir(parents=True)
        (root / "venv").symlink_to(Path(sys.prefix))
    return Release("r1", 1, time.time(), "sum", "deps", str(root), "app: x", str(tmp_path))


def spec(tmp_path: Path, endpoint: str | None = None, command: str = LINGER) -> InstanceSpec:
    variables = {"SHIPYARD_COLOUR": "blue"}
    return InstanceSpec(7, "dev", "blue", 0, release(tmp_path), command, variables, endpoint)


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_an_instance_gets_a_loopback_endpoint_and_a_ref_naming_its_process(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    started = runtime.start(spec(tmp_path))
    host, _, port = started.endpoint.partition(":")
    assert host == "127.0.0.1" and port.isdigit()
    ref = json.loads(started.ref)
    assert set(ref) == {"pid", "create_time", "log"}
    assert ref["log"] == str(tmp_path / "home" / "envs" / "dev" / "logs" / "blue-0.log")
    assert runtime.alive(started.ref) and runtime.pid(started.ref) == ref["pid"]
    assert started.label == runtime.label(started.ref) == f"pid {ref['pid']}"
    wait_for(lambda: "oops" in runtime.output_tail(started.ref).splitlines())
    tail = runtime.output_tail(started.ref)
    assert f"listening on {port} as blue" in tail  # PORT is the endpoint's port
    assert runtime.usage(started.ref) is not None  # its process tree is sampled
    assert runtime.stop(started.ref, 5.0) is False  # SIGTERM was enough
    assert not runtime.alive(started.ref) and runtime.usage(started.ref) is None


def test_a_restart_keeps_the_port_when_it_is_free_and_takes_another_when_not(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    first = runtime.start(spec(tmp_path))
    runtime.stop(first.ref, 5.0)
    again = runtime.start(spec(tmp_path, first.endpoint))
    assert again.endpoint == first.endpoint and again.ref != first.ref
    runtime.stop(again.ref, 5.0)
    port = int(again.endpoint.rpartition(":")[2])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert not port_is_free(port)
        moved = runtime.start(spec(tmp_path, again.endpoint))
    assert moved.endpoint != again.endpoint and runtime.alive(moved.ref)
    runtime.stop(moved.ref, 5.0)


def test_the_streams_of_an_instance_are_followed_from_a_position(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    started = runtime.start(spec(tmp_path))
    wait_for(lambda: "oops" in runtime.output_tail(started.ref).splitlines())
    streams = {(s.env, s.instance, s.stream): s for s in runtime.outputs()}
    assert set(streams) == {("dev", "blue-0", "stdout"), ("dev", "blue-0", "stderr")}
    got = runtime.read_output(streams["dev", "blue-0", "stderr"], None)
    assert got is not None
    lines, position = got
    assert lines[-1] == b"oops" and lines[0].startswith(b"--- shipyard: starting instance 7 ")
    assert runtime.read_output(streams["dev", "blue-0", "stderr"], position) is None
    runtime.stop(started.ref, 5.0)


def test_orphans_are_this_homes_instances_the_store_does_not_know(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    started = runtime.start(spec(tmp_path))
    assert runtime.orphans({7}) == []
    found = runtime.orphans(set())
    assert [runtime.pid(ref) for ref in found] == [runtime.pid(started.ref)]
    other = LocalRuntime(tmp_path / "elsewhere", tmp_path / "elsewhere" / "envs")
    assert other.orphans(set()) == []  # another home's instances are not its business
    runtime.stop(found[0], 5.0)
    assert not runtime.alive(started.ref)


def test_a_one_off_command_answers_its_exit_status_and_output(runtime: LocalRuntime, tmp_path: Path) -> None:
    job = OneOff("dev", release(tmp_path), 'echo "migrating $WHO"; exit 4', {"WHO": "notes"}, 10.0)
    result = runtime.run_once(job)
    assert (result.code, result.output) == (4, "migrating notes")
    assert (tmp_path / "home" / "envs" / "dev" / "logs" / "migrate.log").exists()


@pytest.mark.parametrize("ref", [None, "", "{}", "[1]", '{"pid": null, "create_time": 1.0}', "not json"])
def test_a_ref_that_names_no_process_is_not_alive_and_stops_nothing(
    runtime: LocalRuntime, ref: str | None
) -> None:
    assert LocalRef.decode(ref) is None
    assert not runtime.alive(ref) and runtime.stop(ref, 0.1) is False and runtime.pid(ref) is None
    assert runtime.output_tail(ref) == ""


def test_a_ref_of_a_pid_reused_by_another_process_is_not_alive(runtime: LocalRuntime) -> None:
    mine = LocalRef.decode(json.dumps({"pid": os.getpid(), "create_time": 1.0, "log": ""}))
    assert mine is not None and not runtime.alive(mine.encode())  # same pid, another start time
