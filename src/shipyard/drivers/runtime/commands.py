"""One-off commands of the app (migrations), run to completion in a release's environment.

Like an instance (``supervisor.py``), a command runs through /bin/sh in the release's app
folder with its virtualenv first on PATH and the app's environment variables; unlike an
instance, Shipyard waits for it, with a time limit, and keeps its output in a log file.
Called by the process runtime (``supervisor.LocalRuntime.run_once``) for ``engine/data/migrations.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shipyard.drivers.files import PRIVATE_UMASK, open_private_append
from shipyard.errors import InstanceError


@dataclass(frozen=True)
class CommandResult:
    code: int | None  # None: killed at the time limit
    seconds: float
    output: str  # the last lines of its output

    @property
    def ok(self) -> bool:
        return self.code == 0


def process_environment(venv: Path, env: dict[str, str]) -> dict[str, str]:
    """What every process of a release starts with (an instance or a one-off command): its
    virtualenv first on PATH, a few of the control plane's own variables, then ``env``."""
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "VIRTUAL_ENV": str(venv),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONUNBUFFERED": "1",
        **env,
    }


def run_command(
    command: str,
    cwd: Path,
    venv: Path,
    env: dict[str, str],
    log_path: Path,
    timeout: float,
    hint: str = "check database.migrate",
) -> CommandResult:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = process_environment(venv, env)
    started = time.monotonic()
    with open_private_append(log_path) as log:
        start_at = log.tell()
        log.write(f"--- shipyard: running `{command}` at {time.ctime()}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=PRIVATE_UMASK,  # the app's own files (its database) are 0600
            )
        except OSError as exc:
            raise InstanceError(f"could not run `{command}`: {exc}", hint) from None
        try:
            code: int | None = child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
    took = time.monotonic() - started
    with open(log_path, "rb") as fh:
        fh.seek(start_at)
        lines = fh.read().decode(errors="replace").splitlines()[1:]
    return CommandResult(code, took, "\n".join(lines[-20:]))
