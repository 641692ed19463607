"""Free ports for the integration tests, one sequence per xdist worker.

This is a module of its own because pytest imports ``conftest.py`` as ``conftest`` while the
tests import it as ``tests.integration.conftest``: two module objects, and so two sequences that
handed out the same port (a test's API port went to its own SMTP receiver, bound first). Every
import path reaches this one module, so one worker has one sequence.
"""

from __future__ import annotations

import os
import random
import socket

PORTS_LOW, PORT_BLOCK, PORT_BLOCKS = 10000, 2700, 8  # 10000..31600, below the ephemeral 32768

_last_port: list[int] = []  # the port this worker handed out last (none yet: empty)


def free_port() -> int:
    """A free port below the kernel's ephemeral range, from this xdist worker's own block.

    A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, which outgoing
    connections (the tests' clients, HAProxy's connections to instances) draw from too: between
    this call and the server binding it, one of them may take it. Ports from 10000 up to the
    ephemeral range are never handed out that way, and each worker has a block of its own.
    Within the block the ports go in turn from a random start, so two calls never return the
    same port until the block wraps (two random picks did: a test's API port once equalled its
    environment's, both free when picked, and HAProxy bound it first)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = PORTS_LOW + (int(worker) % PORT_BLOCKS if worker.isdigit() else 0) * PORT_BLOCK
    start = _last_port[0] + 1 - low if _last_port else random.randrange(PORT_BLOCK)
    for step in range(PORT_BLOCK):
        port = low + (start + step) % PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _last_port[:] = [port]
        return port
    raise RuntimeError(f"no free port in {low}..{low + PORT_BLOCK}")
