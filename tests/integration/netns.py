"""A machine of its own for the swarm rig's second node: a network namespace joined to this one by
a veth pair, so that each node has its own address and its own ports, as two machines do.

With both nodes in one namespace a task that Swarm moves off a drained node cannot bind its port
on the other node until the old task has gone, which no real pair of machines has to wait for.
The pair's addresses are in 198.18.0.0/15 (RFC 2544's range for benchmarking, never routed):
``198.18.<n>.1`` on this side, ``198.18.<n>.2`` inside. The traffic never leaves the machine.

Each namespace ``sy-node<n>`` is held with a file lock for its lifetime, so parallel xdist
workers (and a benchmark beside them) each take their own ``n``; a namespace left by a killed
run is removed by the next run that takes its ``n``.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCKS = Path("/tmp/shipyard-test-netns")
RANGE = "198.18.0.0/15"  # what the daemons are told is an insecure registry range


@dataclass(frozen=True)
class Namespace:
    name: str  # ip netns's name, /run/netns/<name>
    host: str  # the address of this side of the pair
    inside: str  # the address of the namespace's side

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    """A fresh namespace with its loopback up and a veth pair to this one, removed at the end."""
    LOCKS.mkdir(exist_ok=True)
    for n in range(256):
        with open(LOCKS / f"{n}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another rig's
            made = Namespace(f"sy-node{n}", f"198.18.{n}.1", f"198.18.{n}.2")
            _remove(made, n)  # a killed run's leftovers
            try:
                _create(made, n)
                yield made
            finally:
                _remove(made, n)
            return
    raise RuntimeError(f"no free test network namespace (all 256 locks under {LOCKS} are held)")


def _create(ns: Namespace, n: int) -> None:
    outside, inside = f"sy-h{n}", f"sy-n{n}"
    for argv in (
        ["ip", "netns", "add", ns.name],
        ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns.name],
        ["ip", "addr", "add", f"{ns.host}/30", "dev", outside],
        ["ip", "link", "set", outside, "up"],
        ["ip", "-n", ns.name, "addr", "add", f"{ns.inside}/30", "dev", inside],
        ["ip", "-n", ns.name, "link", "set", inside, "up"],
        ["ip", "-n", ns.name, "link", "set", "lo", "up"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _remove(ns: Namespace, n: int) -> None:
    subprocess.run(["ip", "link", "del", f"sy-h{n}"], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, check=False)
