"""``shipyard nodes``: the machines the app's instances run on (a thin edge over ``/api/nodes``).

With ``runtime: swarm``, each node of the swarm: its role, state (ready, down), availability
(active, pause, drain) and the address its tasks answer on. Nodes are joined and drained with
Docker's own commands (``docker swarm join``, ``docker node update --availability drain``).
"""

from __future__ import annotations

from rich.console import Console

from shipyard.cli.session import client

console = Console(soft_wrap=True)


def nodes() -> None:
    """The runtime's nodes and their state (`runtime: swarm`; other runtimes use this machine)."""
    from shipyard.schemas.delivery import Nodes

    data = Nodes.model_validate(client().get("/api/nodes"))
    if not data.nodes:
        console.print(f"runtime: {data.runtime}: instances run on this machine (no nodes to list)")
        return
    for node in data.nodes:
        role = f"{node.role} leader" if node.leader else node.role
        cells = (node.hostname, node.id[:12], role, node.state, node.availability, node.address)
        console.print("  ".join(f"{cell:<14}" for cell in cells).rstrip(), highlight=False)
