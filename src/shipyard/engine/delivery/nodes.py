"""The machines instances run on (``shipyard nodes``): a Swarm's nodes, or none to list.

A runtime over several machines answers ``interface.NodeLister``; the process and docker
runtimes run everything on this one machine and list no nodes. Called by ``server/nodes.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from shipyard.drivers.runtime.interface import NodeLister
from shipyard.engine.context import Context


def list_nodes(ctx: Context) -> dict[str, Any]:
    """The runtime's name and its nodes (each a ``core.swarm.Node`` as a mapping)."""
    runtime = ctx.runtime
    nodes = runtime.nodes() if isinstance(runtime, NodeLister) else []
    return {"runtime": ctx.manifest.runtime, "nodes": [asdict(n) for n in nodes]}
