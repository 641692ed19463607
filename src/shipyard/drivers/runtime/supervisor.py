"""The process runtime: app instances as local processes, behind the engine's ``Runtime``.

Called by the engine through ``interface.Runtime``; what makes an instance a process stays
here. An instance listens on a free port of 127.0.0.1 (its endpoint; a restart keeps the port
when it is still free), and its ref is the JSON of ``ProcessRef`` (pid and start time, which
together name a process, pids being reused) and its stdout log's path. Each instance runs
its manifest command through /bin/sh in its own session (so it outlives a killed control
plane and can be adopted), writes stdout and stderr to two log files (``<name>.log``,
``<name>.stderr.log``, each opening with a ``--- shipyard: starting instance N`` marker that
the log ingester reads), and carries SHIPYARD_HOME and SHIPYARD_INSTANCE_ID in its
environment so that orphans can be found and stopped after a crash of the control plane.
Instances run at a lower CPU priority (nice ``INSTANCE_NICENESS``) than the control plane,
HAProxy and the CLI: when the apps saturate the cores, a rollback (the CLI's start, the API's
answer, the switch) still gets the CPU first. Usage is read with ``usage.UsageSampler``,
one-off commands run with ``commands.run_command``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from shipyard.core.logline import Source
from shipyard.drivers.files import PRIVATE_UMASK, open_private_append
from shipyard.drivers.ports import free_port, port_is_free
from shipyard.drivers.runtime import procs
from shipyard.drivers.runtime.commands import CommandResult, process_environment, run_command
from shipyard.drivers.runtime.interface import InstanceSpec, OneOff, Started
from shipyard.drivers.runtime.logfiles import OutputStream, instance_log, log_files, read_new, stderr_path
from shipyard.drivers.runtime.usage import Usage, UsageSampler
from shipyard.errors import InstanceError

INSTANCE_NICENESS = 5  # CFS weight 335 against 1024 at nice 0: the apps yield when it matters


@dataclass(frozen=True)
class LocalRef:
    """What the process runtime keeps of an instance (its ``runtime_ref``, as JSON)."""

    process: procs.ProcessRef
    log: str = ""  # the stdout log's path; "" for an orphan found by its environment

    def encode(self) -> str:
        return json.dumps({"pid": self.process.pid, "create_time": self.process.create_time, "log": self.log})

    @classmethod
    def decode(cls, ref: str | None) -> LocalRef | None:
        """The ref the store keeps; None when the instance never started (or ``ref`` is not ours)."""
        try:
            data = json.loads(ref) if ref else None
            if not isinstance(data, dict) or not data.get("pid") or not data.get("create_time"):
                return None
            return cls(
                procs.ProcessRef(int(data["pid"]), float(data["create_time"])), str(data.get("log", ""))
            )
        except (ValueError, TypeError):
            return None


class LocalRuntime:
    """``interface.Runtime`` on this machine's processes (``runtime: process``)."""

    def __init__(self, home: Path, envs_dir: Path) -> None:
        self.home = home  # resolved: instances carry it, so that orphans are known as ours
        self.envs_dir = envs_dir  # <env>/logs/<name>.log: the instances' output (``logfiles``)
        self._usage = UsageSampler()

    def start(self, spec: InstanceSpec) -> Started:
        log = instance_log(self.envs_dir, spec.env, spec.name)
        root = Path(spec.release.path)
        endpoint, variables = "", dict(spec.variables)
        if spec.listens:  # a worker gets no port
            known = spec.endpoint.rpartition(":")[2] if spec.endpoint else ""
            port = int(known) if known.isdigit() and port_is_free(int(known)) else free_port()
            endpoint, variables["PORT"] = f"127.0.0.1:{port}", str(port)
        process = self.spawn(spec.instance_id, spec.command, root / "app", root / "venv", variables, log)
        return Started(endpoint, LocalRef(process, str(log)).encode(), f"pid {process.pid}")

    def spawn(
        self, instance_id: int, command: str, cwd: Path, venv: Path, env: dict[str, str], log_path: Path
    ) -> procs.ProcessRef:
        """Start ``command`` as instance ``instance_id`` in its own session, output to ``log_path``."""
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
                    f"could not start `{command}`: {exc}",
                    "check its command under processes in shipyard.yaml",
                ) from None
        return procs.ref_of(child.pid)

    def stop(self, ref: str | None, timeout: float) -> bool:
        """Stop gracefully (SIGTERM to the group, SIGKILL after ``timeout``)."""
        local = LocalRef.decode(ref)
        return procs.terminate_group(local.process, timeout) if local else False

    def alive(self, ref: str | None) -> bool:
        local = LocalRef.decode(ref)
        if local is None:
            return False
        procs.reap(local.process)
        return procs.is_alive(local.process)

    def label(self, ref: str | None) -> str:
        local = LocalRef.decode(ref)
        return f"pid {local.process.pid}" if local else "not started"

    def pid(self, ref: str | None) -> int | None:
        local = LocalRef.decode(ref)
        return local.process.pid if local else None

    def usage(self, ref: str) -> Usage | None:
        local = LocalRef.decode(ref)
        return self._usage.sample(local.process) if local else None

    def forget_usage_except(self, live: set[str]) -> None:
        self._usage.forget_except({local.process for ref in live if (local := LocalRef.decode(ref))})

    def orphans(self, known: set[int]) -> list[str]:
        """Processes started by this Shipyard home whose instance id is not in ``known``."""
        found: list[str] = []
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
            found.append(LocalRef(procs.ProcessRef(proc.pid, proc.info["create_time"])).encode())
        return found

    def output_tail(self, ref: str | None, lines: int = 5) -> str:
        """The last lines of an instance's stdout, then of its stderr (where tracebacks go)."""
        local = LocalRef.decode(ref)
        if local is None or not local.log:
            return ""
        text: list[str] = []
        for path in (Path(local.log), stderr_path(Path(local.log))):
            try:
                text += path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
        return "\n".join(text)

    def outputs(self) -> list[OutputStream]:
        """The log files under ``<home>/envs`` (each instance's stdout and stderr, ``migrate.log``)."""
        return log_files(self.envs_dir)

    def read_output(self, stream: OutputStream, known: Source | None) -> tuple[list[bytes], Source] | None:
        return read_new(Path(stream.key), known)

    def run_once(self, job: OneOff) -> CommandResult:
        """The command in the release's app folder and virtualenv; output in ``<env>/logs/<name>.log``
        (``migrate.log``, ``cron-<job>.log``)."""
        root = Path(job.release.path)
        log = instance_log(self.envs_dir, job.env, job.name)
        return run_command(
            job.command, root / "app", root / "venv", job.variables, log, job.timeout, job.hint
        )
