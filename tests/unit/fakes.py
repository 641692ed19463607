"""Fakes for the engine's driver Protocols (``drivers/*/interface.py``), for unit tests.

Each records what the engine asked of it and answers as the test sets it up; none starts a
process, opens a socket or builds anything. ``tests/unit/test_engine_fakes.py`` runs a
deployment against them, ``tests/unit/test_data_fakes.py`` backups and clusters.
"""

from __future__ import annotations

import io
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, BinaryIO, TypeVar

from shipyard.core.logline import Source
from shipyard.core.messages import Message
from shipyard.core.proxy import backend_name
from shipyard.core.proxy_layout import ProxyLayout, ServerState
from shipyard.core.records import Release
from shipyard.core.traffic import Hit
from shipyard.drivers.data.interface import Conn, DataDrivers, Server, StoredObject
from shipyard.drivers.loops import Task
from shipyard.drivers.observe.interface import Outcome, Report
from shipyard.drivers.runtime.interface import (
    CommandResult,
    InstanceSpec,
    OneOff,
    OutputStream,
    ProbeResult,
    Started,
    Usage,
    Warn,
)
from shipyard.errors import BackupError, DatabaseError, NotFoundError
from shipyard.manifest.alerts import Receiver
from shipyard.manifest.models import Manifest

T = TypeVar("T")


class FakeRuntime:
    """Instances that exist only as refs, in memory: ``started`` records each spec, ``running``
    the refs alive now (a test discards one to crash it), ``stopped`` the refs stopped, and
    ``one_offs`` the commands run (each answers ``exit_code``). A restart keeps its endpoint."""

    def __init__(self) -> None:
        self.started: list[InstanceSpec] = []
        self.stopped: list[str] = []
        self.running: set[str] = set()
        self.one_offs: list[OneOff] = []
        self.exit_code: int | None = 0
        self.figures: Usage | None = Usage(0.25, 0.01, 1 << 20)
        self.strays: list[str] = []  # what ``orphans`` finds (refs of unknown instance ids)
        self.streams: dict[str, tuple[str, str]] = {}  # output streams: key -> (env, instance)
        self.lines: dict[str, list[bytes]] = {}  # each stream's lines so far (offset: a count)
        self._starts = 0

    def start(self, spec: InstanceSpec) -> Started:
        self._starts += 1
        ref = json.dumps({"instance": spec.instance_id, "start": self._starts})
        self.started.append(spec)
        self.running.add(ref)
        endpoint = spec.endpoint or f"10.0.0.{spec.instance_id % 250 + 1}:{8000 + spec.slot}"
        return Started(endpoint, ref, self.label(ref))

    def stop(self, ref: str | None, timeout: float) -> bool:
        if ref is None or ref not in self.running:
            return False
        self.running.discard(ref)
        self.stopped.append(ref)
        return False

    def alive(self, ref: str | None) -> bool:
        return ref in self.running

    def label(self, ref: str | None) -> str:
        return f"fake #{json.loads(ref)['start']}" if ref else "not started"

    def pid(self, ref: str | None) -> int | None:
        return None

    def usage(self, ref: str) -> Usage | None:
        return self.figures if ref in self.running else None

    def forget_usage_except(self, live: set[str]) -> None:
        pass

    def output_tail(self, ref: str | None, lines: int = 5) -> str:
        return "(fake output)"

    def outputs(self) -> list[OutputStream]:
        return [OutputStream(key, env, name, "stdout") for key, (env, name) in self.streams.items()]

    def read_output(self, stream: OutputStream, known: Source | None) -> tuple[list[bytes], Source] | None:
        lines = self.lines.get(stream.key, [])
        done = known.offset if known is not None else 0
        if done >= len(lines):
            return None
        return lines[done:], Source(stream.key, 1, len(lines), None, False)

    def orphans(self, known: set[int]) -> list[str]:
        return [ref for ref in self.strays if json.loads(ref)["instance"] not in known]

    def run_once(self, job: OneOff) -> CommandResult:
        self.one_offs.append(job)
        return CommandResult(self.exit_code, 0.0, f"ran `{job.command}`")

    def crash(self, ref: str | None) -> None:
        """The instance ``ref`` names dies (the reconciler should start it again)."""
        self.running.discard(ref or "")


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
    """Answers every probe with ``status`` (200 by default); ``asked`` records (endpoint, path)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.asked: list[tuple[str, str]] = []

    def get(self, endpoint: str, path: str, timeout: float, expect: int = 200) -> ProbeResult:
        self.asked.append((endpoint, path))
        ok = self.status == expect
        return ProbeResult(ok, self.status, 0.001, "" if ok else f"answered {self.status}", "ok")

    def close(self) -> None:
        pass


class FakeProxy:
    """Keeps every synced layout; reports each filled server UP with no session in flight."""

    def __init__(self) -> None:
        self.layouts: list[ProxyLayout] = []
        self.running = False
        self.challenges: dict[str, str] = {}

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

    def queued(self) -> dict[str, int]:
        return {}

    def stop(self) -> None:
        self.running = False

    def is_running(self) -> bool:
        return self.running

    def publish_challenge(self, token: str, answer: str) -> None:
        self.challenges[token] = answer

    def withdraw_challenge(self, token: str) -> None:
        self.challenges.pop(token, None)


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


class FakeStorage:
    """Backup objects in memory. A ``put`` of a name containing ``refuse`` reads its chunks, then
    fails as a full disk does (``BackupError``), keeping any earlier object of that name."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.refuse = ""

    @property
    def where(self) -> str:
        return "memory"

    def put(self, name: str, chunks: Iterable[bytes]) -> int:
        data = b"".join(chunks)
        if self.refuse and self.refuse in name:
            raise BackupError(f"the fake storage is full: {name} was not stored", "free space")
        self.objects[name] = data
        return len(data)

    def get(self, name: str) -> BinaryIO:
        if name not in self.objects:
            raise NotFoundError(f"backup object {name} is missing from memory", "restore another")
        return io.BytesIO(self.objects[name])

    def list(self, prefix: str = "") -> list[StoredObject]:
        return [StoredObject(n, len(d)) for n, d in sorted(self.objects.items()) if n.startswith(prefix)]

    def delete(self, name: str) -> None:
        self.objects.pop(name, None)


class FakePostgres:
    """Clusters as folders holding ``PG_VERSION``, running while in ``running_on``. ``sql`` keeps
    each statement in ``statements`` and answers from ``answers``; a statement starting with a
    key of ``fail`` raises that key's error instead."""

    def __init__(self) -> None:
        self.running_on: set[Path] = set()
        self.statements: list[str] = []
        self.answers: dict[str, str] = {}
        self.fail: dict[str, DatabaseError] = {}
        self.created: list[Path] = []

    def find_programs(self) -> Path:
        return Path("/fake/postgresql/bin")

    def program(self, name: str) -> str:
        return str(self.find_programs() / name)

    def run(
        self, argv: list[str], what: str, env: dict[str, str] | None = None,
        as_server: bool = False, timeout: float = 600, hint: str = "",
    ) -> str:  # fmt: skip
        return ""

    def give_to_server(self, path: Path) -> None:
        pass

    def check_reachable(self, folder: Path) -> None:
        pass

    def create(self, pgdata: Path, superuser_password: str, settings: list[str], hba: str, log: Path) -> None:
        pgdata.mkdir(parents=True)
        (pgdata / "PG_VERSION").write_text("15\n")
        self.created.append(pgdata)
        self.start(pgdata, log)

    def start(self, pgdata: Path, log: Path, timeout: float = 60) -> None:
        self.running_on.add(pgdata)

    def stop(self, pgdata: Path, mode: str = "fast", timeout: float = 60) -> None:
        self.running_on.discard(pgdata)

    def running(self, pgdata: Path) -> bool:
        return pgdata in self.running_on

    def sql(self, conn: Conn, statement: str, database: str | None = None) -> str:
        self.statements.append(statement)
        for start, error in self.fail.items():
            if statement.startswith(start):
                raise error
        return self.answers.get(statement, "")

    def basebackup_argv(self, target: str) -> list[str]:
        return ["true"]

    def verifybackup(self, pgdata: Path, manifest: Path) -> str:
        return ""

    def amcheck(self, conn: Conn) -> str:
        return ""


class FakeDumps:
    """An external server whose dump is ``archive``; ``calls`` records (what was run, the server's
    url, its password). ``fail`` (if set) is raised by the next ``dump``; ``restored`` keeps
    what each ``restore`` loaded."""

    def __init__(self, archive: bytes = b"PGDMP fake archive") -> None:
        self.archive = archive
        self.calls: list[tuple[str, str, str | None]] = []
        self.fail: DatabaseError | None = None
        self.restored: list[bytes] = []

    def dump(self, server: Server, consume: Callable[[IO[bytes]], T], what: str, timeout: float) -> T:
        self.calls.append(("pg_dump", server.url, server.password))
        if self.fail is not None:
            raise self.fail
        return consume(io.BytesIO(self.archive))

    def restore(self, server: Server, archive: Path, what: str, timeout: float = 3600) -> None:
        self.calls.append(("pg_restore", server.url, server.password))
        self.restored.append(archive.read_bytes())

    def restore_local(self, conn: Conn, database: str, archive: Path, what: str) -> None:
        self.calls.append(("pg_restore --local", database, None))

    def sql(self, server: Server, statement: str, what: str) -> str:
        self.calls.append(("psql", server.url, server.password))
        return ""

    def entries(self, archive: Path) -> int:
        self.calls.append(("pg_restore --list", str(archive.name), None))
        return 3


def fake_data_drivers(
    storage: FakeStorage | None = None, postgres: FakePostgres | None = None, dumps: FakeDumps | None = None
) -> DataDrivers:
    """The data drivers as fakes (one storage for every backup folder), for ``BackupService``."""
    shared = storage or FakeStorage()
    return DataDrivers(lambda root: shared, postgres or FakePostgres(), dumps or FakeDumps())
