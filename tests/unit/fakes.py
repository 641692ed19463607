"""Fakes for the engine's driver Protocols (``drivers/*/interface.py``), for unit tests.

Each records what the engine asked of it and answers as the test sets it up; none starts a
process, opens a socket or builds anything. ``tests/unit/test_engine_fakes.py`` runs a
deployment against them.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from shipyard.core.messages import Message
from shipyard.core.proxy import backend_name
from shipyard.core.proxy_layout import ProxyLayout, ServerState
from shipyard.core.records import Release
from shipyard.core.traffic import Hit
from shipyard.drivers.loops import Task
from shipyard.drivers.observe.interface import Outcome, Report
from shipyard.drivers.runtime.interface import ProbeResult, ProcessRef, Usage, Warn
from shipyard.manifest.alerts import Receiver
from shipyard.manifest.models import Manifest


class FakeRuntime:
    """Processes that exist only as refs: ``started`` and ``stopped`` record the calls."""

    def __init__(self) -> None:
        self.started: list[tuple[int, str, dict[str, str]]] = []
        self.stopped: list[ProcessRef] = []
        self.running: set[ProcessRef] = set()

    def start(
        self, instance_id: int, command: str, cwd: Path, venv: Path, env: dict[str, str], log_path: Path
    ) -> ProcessRef:
        ref = ProcessRef(100_000 + instance_id, 1.0)
        self.started.append((instance_id, command, env))
        self.running.add(ref)
        return ref

    def stop(self, ref: ProcessRef | None, timeout: float) -> bool:
        if ref is None or ref not in self.running:
            return False
        self.running.discard(ref)
        self.stopped.append(ref)
        return True

    def alive(self, ref: ProcessRef | None) -> bool:
        return ref in self.running

    def orphans(self, known: set[int]) -> list[ProcessRef]:
        return []

    def log_tail(self, log_path: Path, lines: int = 5) -> str:
        return "(fake output)"


class FakeBuilder:
    """Releases ``r<number>`` in ``folder``, without files; ``built`` counts the builds."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.built: list[str] = []

    def build(
        self, app_dir: Path, manifest: Manifest, number: int, manifest_text: str, warn: Warn = print
    ) -> Release:
        release_id = f"r{number}"
        self.built.append(release_id)
        warn(f"fake build of {release_id}")
        path = self.folder / release_id
        return Release(release_id, number, time.time(), "sum", "deps", str(path), manifest_text, str(app_dir))


class FakeProber:
    """Answers every probe with ``status`` (200 by default); ``asked`` records (port, path)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.asked: list[tuple[int, str]] = []

    def get(self, port: int, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        self.asked.append((port, path))
        ok = self.status == expect
        return ProbeResult(ok, self.status, 0.001, "" if ok else f"answered {self.status}", "ok")

    def close(self) -> None:
        pass


class FakeProxy:
    """Keeps every synced layout; reports each filled server UP with no session in flight."""

    def __init__(self) -> None:
        self.layouts: list[ProxyLayout] = []
        self.running = False

    def sync(self, layout: ProxyLayout) -> None:
        self.layouts.append(layout)
        self.running = True

    def ensure_running(self) -> bool:
        return False

    def server_states(self) -> list[ServerState]:
        if not self.layouts:
            return []
        return [
            ServerState(backend_name(b.env, s.colour), s.name, "UP", 1, 0, s.address)
            for b in self.layouts[-1].backends
            for s in b.servers
            if s.address is not None
        ]

    def stop(self) -> None:
        self.running = False

    def is_running(self) -> bool:
        return self.running


class FakeAccessLog:
    def __init__(self) -> None:
        self.sink: deque[tuple[Hit, str]] = deque()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def loops(self) -> list[Task]:
        return []


class FakeSender:
    """Delivers every message at once, successfully, and keeps it in ``sent``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def send(self, name: str, receiver: Receiver, message: Message, on_result: Report) -> None:
        self.sent.append((name, message))
        on_result(Outcome(name, receiver.kind, message, True, 1, "delivered", time.time()))

    def close(self) -> None:
        pass


class FakeUsage:
    def __init__(self, usage: Usage | None = None) -> None:
        self.usage = usage

    def sample(self, ref: ProcessRef) -> Usage | None:
        return self.usage

    def forget_except(self, live: set[ProcessRef]) -> None:
        pass
