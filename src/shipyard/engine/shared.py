"""The small services every part of the engine shares, each typed: the locks, the platform
facts, the running rollouts and the crash-test failpoint.

Built once by the composition root (``shipyard.runtime``) and handed to the ``Context``;
nothing here starts a thread or touches the disk.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Fact = Callable[[str, float], float | None]  # (env, now) -> the figure, or None when unknown


@dataclass
class Locks:
    """The engine's locks. ``routing`` is held while the recorded routes and the proxy change
    together; ``build`` while a release number is taken and built; ``backup(key)`` while an
    environment's backups (or a managed cluster, ``cluster:<env>``) change."""

    routing: threading.RLock = field(default_factory=threading.RLock)
    build: threading.Lock = field(default_factory=threading.Lock)
    _backups: dict[str, threading.RLock] = field(default_factory=dict)

    def backup(self, key: str) -> threading.RLock:
        return self._backups.setdefault(key, threading.RLock())  # atomic in CPython


class PlatformFacts:
    """Figures of an environment the engine registers (``backup_age``, ``secrets_due``...),
    read by the metrics recorder and by alert rules under the same names."""

    def __init__(self) -> None:
        self._facts: dict[str, Fact] = {}

    def register(self, name: str, fact: Fact) -> None:
        self._facts[name] = fact

    def get(self, name: str) -> Fact | None:
        return self._facts.get(name)

    def items(self) -> Iterator[tuple[str, Fact]]:
        """Every fact, by name."""
        return iter(sorted(self._facts.items()))


class RolloutControl(Protocol):
    """What the engine calls on a running progressive rollout (``rollout.CanaryRun``)."""

    def verb(self, verb: str, by: str) -> Mapping[str, Any]:
        """Apply ``pause``, ``resume``, ``promote`` or ``abort``; the rollout's phase and weight."""


class Rollouts:
    """The progressive rollout running in each environment (at most one)."""

    def __init__(self) -> None:
        self._running: dict[str, RolloutControl] = {}

    def add(self, env: str, run: RolloutControl) -> None:
        self._running[env] = run

    def remove(self, env: str) -> None:
        self._running.pop(env, None)

    def get(self, env: str) -> RolloutControl | None:
        return self._running.get(env)

    def __contains__(self, env: object) -> bool:
        return env in self._running


@dataclass(frozen=True)
class Failpoint:
    """Fault injection for crash tests: ``hit`` SIGKILLs this process at the named point
    (``SHIPYARD_FAILPOINT``; empty, the default, never fires)."""

    name: str = ""

    def hit(self, where: str) -> None:
        if self.name and self.name == where:
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)
