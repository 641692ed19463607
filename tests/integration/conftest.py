"""Integration harness: a real control plane, real HAProxy and real app processes.

Each test gets its own app folder (a copy of examples/notes at some version), its
own Shipyard home and free ports; the dependency venv cache is shared by the
session so only the first build installs packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from tests.integration.ports import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "notes"
PGNOTES = REPO / "examples" / "pgnotes"


class Shipyard:
    """Drives one Shipyard home through the real CLI and API."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.app = root / "app"
        self.home = root / "home"
        self.app.mkdir()
        self.api_port = free_port()
        self.port = free_port()
        self.env = {**os.environ, "SHIPYARD_CACHE_DIR": str(cache)}
        self.manifest: dict[str, Any] = yaml.safe_load((EXAMPLE / "shipyard.yaml").read_text())
        self.manifest["environments"]["dev"]["port"] = self.port
        # the example backs up hourly: a test running across the hour would find a scheduled
        # backup among the ones it made (schedules have their own unit tests)
        self.manifest["database"]["backups"]["schedule"] = None
        self.write_manifest()
        self.use("v1")

    # the app folder ------------------------------------------------------------------------
    def use(self, version: str) -> None:
        for item in (EXAMPLE / version).iterdir():
            shutil.copy2(item, self.app / item.name)

    def use_pgnotes(self, database: dict[str, Any]) -> None:
        """The notes app on PostgreSQL (examples/pgnotes, psycopg) with this ``database``."""
        for name in ("app.py", "migrate.py", "requirements.txt"):
            shutil.copy2(PGNOTES / name, self.app / name)
        (self.app / "notes.db").unlink(missing_ok=True)
        self.manifest["database"] = database
        self.manifest["processes"]["web"]["command"] = "uvicorn app:app --host 127.0.0.1 --port $PORT"
        self.manifest["health"]["start_timeout"] = "20s"
        self.write_manifest()

    @contextlib.contextmanager
    def home_outside_tmp(self, prefix: str) -> Iterator[None]:
        """PostgreSQL runs as an unprivileged OS user, who cannot pass through pytest's private
        /tmp/pytest-of-root (every pytest run makes it 0700 again): the home goes to a folder
        others may pass through, cleaned up (servers included) on the way out."""
        outside = Path(tempfile.mkdtemp(prefix=prefix))
        outside.chmod(0o711)
        self.home = outside / "home"
        try:
            yield
        finally:
            self.cleanup()
            shutil.rmtree(outside, ignore_errors=True)

    def write_manifest(self) -> None:
        (self.app / "shipyard.yaml").write_text(yaml.safe_dump(self.manifest, sort_keys=False))

    # CLI -----------------------------------------------------------------------------------
    def cli(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        input: str = "",
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "shipyard", "--home", str(self.home), "--app-dir", str(self.app), *args]
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env or self.env, timeout=timeout, check=False,
            input=input,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"shipyard {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def up(self, **extra_env: str) -> None:
        self.cli("up", "--api-port", str(self.api_port), env={**self.env, **extra_env})

    # API and traffic -----------------------------------------------------------------------
    def api(self) -> httpx.Client:
        token = (self.home / "token").read_text().strip()
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            trust_env=False,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def status(self) -> dict[str, Any]:
        with self.api() as api:
            return dict(api.get("/api/status").json()["environments"]["dev"])

    def serving(self) -> dict[str, Any]:
        resp = httpx.get(f"http://127.0.0.1:{self.port}/", timeout=5, trust_env=False)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    # the notes example app and the backups, per environment -------------------------------
    def app_url(self, env: str = "dev") -> str:
        return f"http://127.0.0.1:{self.manifest['environments'][env]['port']}"

    def add_note(self, text: str, env: str = "dev") -> None:
        resp = httpx.post(f"{self.app_url(env)}/notes", json={"text": text}, timeout=5, trust_env=False)
        assert resp.status_code == 201, resp.text

    def notes(self, env: str = "dev") -> list[str]:
        resp = httpx.get(f"{self.app_url(env)}/notes", timeout=5, trust_env=False)
        assert resp.status_code == 200, resp.text
        return [n["text"] for n in resp.json()]

    def backups(self, env: str = "dev") -> list[dict[str, object]]:
        """The environment's backup catalog through the API, newest first."""
        with self.api() as api:
            return list(api.get(f"/api/backups/{env}").json()["backups"])

    def server_pid(self) -> int:
        import json

        return int(json.loads((self.home / "server.json").read_text())["pid"])

    def wait_server_gone(self, pid: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)

    def processes(self) -> list[psutil.Process]:
        """Every live process started by this home (instances and HAProxy)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                env = proc.environ()
                cmd = " ".join(proc.cmdline())
            except (psutil.Error, OSError):
                continue
            if env.get("SHIPYARD_HOME") == str(self.home.resolve()) or (
                "haproxy" in cmd and str(self.home) in cmd
            ):
                found.append(proc)
        return found

    def cleanup(self) -> None:
        if (self.home / "server.json").exists():
            self.cli("down", check=False, timeout=30)
        for proc in self.processes():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        info = self.home / "server.json"
        if info.exists():  # a server that did not answer `down`
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid(), signal.SIGKILL)


class Load:
    """A bounded background client that counts failed requests through the proxy."""

    def __init__(self, port: int, path: str = "/") -> None:
        self.port = port
        self.path = path  # "/" answers the version, which ``versions`` collects
        self.ok = 0
        self.failed: list[str] = []
        self.versions: set[str] = set()
        self.by_status: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        with httpx.Client(trust_env=False, timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    resp = client.get(f"http://127.0.0.1:{self.port}{self.path}")
                    self.by_status[resp.status_code] = self.by_status.get(resp.status_code, 0) + 1
                    if resp.status_code == 200:
                        self.ok += 1
                        self.versions.add(resp.json()["version"] if self.path == "/" else "")
                    else:
                        self.failed.append(str(resp.status_code))
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))


@pytest.fixture(scope="session")
def venv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("SHIPYARD_TEST_CACHE")
    return Path(shared) if shared else tmp_path_factory.mktemp("venv-cache")


@pytest.fixture
def shipyard(tmp_path: Path, venv_cache: Path) -> Iterator[Shipyard]:
    if not shutil.which("haproxy") and not Path("/usr/sbin/haproxy").exists():
        pytest.fail("HAProxy is required for integration tests: apt-get install -y haproxy")
    sy = Shipyard(tmp_path, venv_cache)
    try:
        yield sy
    finally:
        sy.cleanup()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """This worker's private dockerd with the offline Python base image (``docker_rig``)."""
    from tests.integration.docker_rig import engine

    with engine() as made:
        yield made


@pytest.fixture(scope="session")
def swarm_rig() -> Iterator[Any]:
    """This worker's swarm (a manager and a worker dockerd) and registry (``swarm_rig``)."""
    from tests.integration.swarm_rig import swarm

    with swarm(free_port) as made:
        yield made
