"""Local process runtime: starts, watches and stops app instances on this machine.

Called by the engine. Each instance runs its manifest command through /bin/sh
in its own session (so it outlives a killed control plane and can be adopted),
writes stdout and stderr to two log files (``<name>.log``, ``<name>.stderr.log``, each
opening with a ``--- shipyard: starting instance N`` marker that the log ingester reads),
and carries SHIPYARD_HOME and
SHIPYARD_INSTANCE_ID in its environment so that orphans can be found and
stopped after a crash of the control plane. Instances run at a lower CPU priority (nice
``INSTANCE_NICENESS``) than the control plane, HAProxy and the CLI: when the apps saturate
the cores, a rollback (the CLI's start, the API's answer, the switch) still gets the CPU first.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import psutil

from shipyard.drivers.files import PRIVATE_UMASK, open_private_append
from shipyard.drivers.runtime import procs
from shipyard.drivers.runtime.commands import process_environment
from shipyard.drivers.runtime.logfiles import stderr_path
from shipyard.errors import InstanceError

INSTANCE_NICENESS = 5  # CFS weight 335 against 1024 at nice 0: the apps yield when it matters


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when a server could listen on ``port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalRuntime:
    def __init__(self, home: Path) -> None:
        self.home = home

    def start(
        self,
        instance_id: int,
        command: str,
        cwd: Path,
        venv: Path,
        env: dict[str, str],
        log_path: Path,
    ) -> procs.ProcessRef:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = {
            **process_environment(venv, env),
            "SHIPYARD_HOME": str(self.home),
            "SHIPYARD_INSTANCE_ID": str(instance_id),
        }
        marker = f"--- shipyard: starting instance {instance_id} `{command}` at {time.ctime()}\n".encode()
        with open_private_append(log_path) as log, open_private_append(stderr_path(log_path)) as errors:
            for out in (log, errors):
                out.write(marker)
                out.flush()
            try:
                child = subprocess.Popen(
                    ["nice", "-n", str(INSTANCE_NICENESS), "/bin/sh", "-c", command],  # nice execs: same pid
                    cwd=cwd,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=errors,
                    start_new_session=True,
                    umask=PRIVATE_UMASK,  # the app's own files (its database) are 0600
                )
            except OSError as exc:
                raise InstanceError(
                    f"could not start `{command}`: {exc}", "check processes.web.command"
                ) from None
        return procs.ref_of(child.pid)

    def stop(self, ref: procs.ProcessRef | None, timeout: float) -> bool:
        """Stop gracefully (SIGTERM to the group, SIGKILL after ``timeout``)."""
        return procs.terminate_group(ref, timeout) if ref else False

    def alive(self, ref: procs.ProcessRef | None) -> bool:
        if ref is not None:
            procs.reap(ref)
        return procs.is_alive(ref)

    def orphans(self, known: set[int]) -> list[procs.ProcessRef]:
        """Processes started by this Shipyard home whose instance id is not in ``known``."""
        found: list[procs.ProcessRef] = []
        home = str(self.home)
        for proc in psutil.process_iter(["pid", "create_time"]):
            try:
                env = proc.environ()
            except (psutil.Error, OSError):
                continue
            if env.get("SHIPYARD_HOME") != home or "SHIPYARD_INSTANCE_ID" not in env:
                continue
            if int(env["SHIPYARD_INSTANCE_ID"]) in known:
                continue
            try:
                if os.getpgid(proc.pid) != proc.pid:
                    continue  # only group leaders; the group is stopped as a whole
            except ProcessLookupError:
                continue
            found.append(procs.ProcessRef(proc.pid, proc.info["create_time"]))
        return found

    def log_tail(self, log_path: Path, lines: int = 5) -> str:
        """The last lines of an instance's stdout, then of its stderr (where tracebacks go)."""
        text: list[str] = []
        for path in (log_path, stderr_path(log_path)):
            try:
                text += path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
        return "\n".join(text)
