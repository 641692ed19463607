"""Starting and stopping app instances, and waiting for a colour to drain.

Shared by the deployment (``deploy.py``), the reconciler (restarts, expired standby
colours, start-up convergence) and the engine's facade. An instance runs in its own
process group through the runtime driver; the proxy is synced before one is stopped,
so no request goes to it.
"""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.core.proxy import backend_name
from shipyard.core.records import Instance, Release
from shipyard.drivers.runtime.procs import ProcessRef, stored_ref
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.appenv import app_environment


def start_instance(
    ctx: Context,
    databases: AppDatabases,
    inst_id: int,
    release: Release,
    env: str,
    colour: str,
    port: int,
    log: Path,
) -> ProcessRef:
    variables = {
        **app_environment(ctx, databases, release, env, f"instance {env}/{colour}/{inst_id}"),
        "PORT": str(port),
        "SHIPYARD_COLOUR": colour,
    }
    command = ctx.manifest.processes["web"].command
    root = Path(release.path)
    return ctx.runtime.start(inst_id, command, root / "app", root / "venv", variables, log)


def stop_instances(ctx: Context, instances: list[Instance], timeout: float) -> None:
    """Take instances out of the proxy, then SIGTERM them (SIGKILL after ``timeout``)."""
    if not instances:
        return
    for inst in instances:
        ctx.store.update_instance(inst.id, state="stopping")
    ctx.sync_proxy()
    for inst in instances:
        ctx.runtime.stop(stored_ref(inst.pid, inst.create_time), timeout)
        ctx.store.update_instance(inst.id, state="stopped")


def wait_drained(ctx: Context, env: str, colour: str, timeout: float) -> float | None:
    """Seconds until ``colour``'s servers have no session in flight, or None at ``timeout``."""
    started = time.monotonic()
    backend = backend_name(env, colour)
    while True:
        busy = sum(s.current_sessions for s in ctx.proxy.server_states() if s.backend == backend)
        if busy == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.05)
