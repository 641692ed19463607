"""Starting and stopping app instances, and waiting for a colour to drain.

Shared by the deployment (``deploy.py``), the reconciler (restarts, expired standby
colours, start-up convergence), the workers (``workers.py``: any process, by its name) and the
engine's facade. An instance runs in its own
process group through the runtime driver; the proxy is synced before one is stopped,
so no request goes to it.
"""

from __future__ import annotations

import time

from shipyard.core.proxy import backend_name
from shipyard.core.records import Colour, Instance, Release
from shipyard.drivers.runtime.interface import InstanceSpec, Started
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.appenv import app_environment
from shipyard.errors import DeployError


def start_instance(
    ctx: Context,
    databases: AppDatabases,
    inst: Instance,
    release: Release,
) -> Started:
    """Start the instance ``inst`` names (a new row, or a crashed one) and record where it runs."""
    env, colour = inst.env, inst.colour
    variables = {
        **app_environment(ctx, databases, release, env, f"instance {env}/{colour}/{inst.id}"),
        "SHIPYARD_COLOUR": colour,
        "SHIPYARD_PROCESS": inst.process,
    }
    command = ctx.manifest.processes[inst.process].command
    spec = InstanceSpec(
        inst.id, env, colour, inst.slot, release, command, variables, inst.endpoint, inst.process,
        frozenset(ctx.secrets.versions(env)),
    )  # fmt: skip
    started = ctx.runtime.start(spec)
    ctx.store.update_instance(inst.id, endpoint=started.endpoint or None, runtime_ref=started.ref)
    return started


def failed_with_output(ctx: Context, inst: Instance, message: str, hint: str) -> DeployError:
    """A deployment's error about ``inst``, with the last lines it wrote (why it died)."""
    return DeployError(f"{message}; its last output:\n{ctx.runtime.output_tail(inst.runtime_ref)}", hint)


def stop_instances(ctx: Context, instances: list[Instance], timeout: float) -> None:
    """Take instances out of the proxy, then stop them (killed after ``timeout``)."""
    if not instances:
        return
    for inst in instances:
        ctx.store.update_instance(inst.id, state="stopping")
    ctx.sync_proxy()
    for inst in instances:
        ctx.runtime.stop(inst.runtime_ref, timeout)
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


def wait_proxy_up(ctx: Context, env: str, colour: Colour, new: list[Instance], timeout: float = 10.0) -> None:
    """HAProxy must see the new servers UP too, or sending them requests serves 503s."""
    deadline = time.monotonic() + timeout
    backend = backend_name(env, colour)
    names = {i.name for i in new}
    while True:
        states = [s for s in ctx.proxy.server_states() if s.backend == backend and s.name in names]
        if states and all(s.status.startswith("UP") for s in states):
            return
        if time.monotonic() > deadline:
            raise DeployError(
                f"HAProxy still sees {colour} as "
                f"{', '.join(f'{s.name}={s.status}' for s in states)} after {timeout:g}s",
                "check that the health path answers 200 quickly",
            )
        time.sleep(0.05)
