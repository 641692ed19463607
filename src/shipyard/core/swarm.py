"""Pure decisions of the Swarm runtime (``runtime: swarm``): names, the task's shell, limits.

``drivers/runtime/swarm_runtime.py`` makes one Swarm service per instance from these. The
environment's vault secrets travel as Docker secrets, never in the service's environment
(``docker inspect`` shows only their names): each is a secret named by its content's hash
(a rotation makes a new one, a deploy of the same value reuses it), mounted as
``/run/secrets/<NAME>``, and ``task_shell`` exports them before the app's command runs, so
the app sees the same variables as on the other runtimes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

SECRETS_AT = "/run/secrets"


@dataclass(frozen=True)
class Node:
    """One node of the swarm as ``shipyard nodes`` lists it (from the Swarm API)."""

    id: str
    hostname: str
    role: str  # manager or worker
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain
    address: str  # where its tasks' endpoints are
    leader: bool = False


def node_from(attrs: dict[str, Any]) -> Node:
    """A node as the Swarm API's ``GET /nodes`` describes it."""
    spec, status = attrs.get("Spec", {}), attrs.get("Status", {})
    return Node(
        id=str(attrs.get("ID", "")),
        hostname=str(attrs.get("Description", {}).get("Hostname", "")),
        role=str(spec.get("Role", "")),
        state=str(status.get("State", "unknown")),
        availability=str(spec.get("Availability", "")),
        address=str(status.get("Addr", "")),
        leader=bool(attrs.get("ManagerStatus", {}).get("Leader", False)),
    )


UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def service_name(home_key: str, env: str, instance: str, instance_id: int) -> str:
    """``sy-<home>-<env>-<process-colour-slot>-<id>`` (Swarm names: at most 63 characters)."""
    return f"sy-{home_key}-{env}-{instance}-{instance_id}"[:63]


def secret_name(home_key: str, env: str, name: str, value: str) -> str:
    digest = hashlib.sha256(f"{name}\0{value}".encode()).hexdigest()[:16]
    return f"sy-{home_key}-{env}-{name.lower()}-{digest}"[:64]


def split_secrets(
    variables: dict[str, str], secrets: frozenset[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The plain variables (the service's environment) and the secret ones (Docker secrets)."""
    plain = {k: v for k, v in variables.items() if k not in secrets}
    hidden = {k: v for k, v in variables.items() if k in secrets}
    return plain, hidden


def task_shell(command: str, secrets: list[str], pre_stop: float = 0.0) -> list[str]:
    """The task's command: export each mounted secret under its name, then run ``command``.

    With ``pre_stop``, the command runs under a shell that, on SIGTERM (Swarm stopping the
    task: a drained node, a removed service), keeps it serving ``pre_stop`` seconds more
    before it passes the signal on to the command's processes and waits for them (as a
    Kubernetes preStop sleep): meanwhile Swarm's replacement task starts and HAProxy's
    server moves to it, so no request meets a stopping task. The command's exit status is
    the task's."""
    exports = "".join(f'{name}="$(cat {SECRETS_AT}/{name})"; export {name}; ' for name in sorted(secrets))
    if not pre_stop:
        return ["/bin/sh", "-c", exports + command]
    on_term = f"sleep {pre_stop:g}; trap '' TERM; kill -TERM 0; wait $child; exit \\$?"
    script = f'{exports}{{ {command}\n}} & child=$!; trap "{on_term}" TERM; wait $child'
    return ["/bin/sh", "-c", script]


def memory_bytes(memory: str | None) -> int | None:
    """``processes.<p>.memory`` (``256m``, ``1g``, bytes) in bytes."""
    if not memory:
        return None
    unit = UNITS.get(memory[-1], 1)
    return int(memory.rstrip("kmg")) * unit
