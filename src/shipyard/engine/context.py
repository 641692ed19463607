"""What every part of the engine shares: paths, drivers, store and the current manifest.

Built once by the composition root (``shipyard.runtime``) and passed in. Every field is typed:
the drivers by their Protocols (``drivers/*/interface.py``, so a test may give fakes), the
shared services by their classes (``shared.py``: locks, running rollouts, failpoint, facts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from shipyard.core.config import NoSecrets, SecretSource
from shipyard.core.layout import layout_for
from shipyard.core.records import Instance, Owner
from shipyard.core.tls import Pem
from shipyard.core.traffic import TrafficBook
from shipyard.drivers.proxy.interface import Proxy
from shipyard.drivers.runtime.interface import HealthProber, ReleaseBuilder, Runtime
from shipyard.engine.certs.files import CertificateFiles
from shipyard.engine.certs.issued import IssuedCertificates
from shipyard.engine.observe.notifying import Notifier
from shipyard.engine.shared import Failpoint, Locks, PlatformFacts, Rollouts
from shipyard.home import Paths
from shipyard.manifest.loader import load_manifest
from shipyard.manifest.models import Manifest
from shipyard.state.store import StateStore


@dataclass
class Context:
    paths: Paths
    store: StateStore
    proxy: Proxy
    runtime: Runtime
    builder: ReleaseBuilder
    prober: HealthProber
    owner: Owner
    manifest: Manifest
    manifest_text: str
    traffic: TrafficBook = field(default_factory=TrafficBook)
    notifier: Notifier | None = None  # routes deployment events (None: not announced)
    secrets: SecretSource = field(default_factory=NoSecrets)  # the vault, for `#{Name}#` tokens
    facts: PlatformFacts = field(default_factory=PlatformFacts)  # runtime.py registers, metrics read
    failpoint: Failpoint = field(default_factory=Failpoint)
    rollouts: Rollouts = field(default_factory=Rollouts)  # env -> its running canary
    locks: Locks = field(default_factory=Locks)
    certificates: CertificateFiles = field(default_factory=CertificateFiles)  # edge.tls, checked
    issued: IssuedCertificates = field(default_factory=IssuedCertificates)  # edge.tls: acme
    # instances the reconciler holds out of traffic until they pass their health check again
    # (seen dead while a peer serves; ``engine/delivery/reconcile.py``). In memory on purpose: a
    # restarted control plane routes to every live instance and HAProxy's checks decide.
    held_out: set[int] = field(default_factory=set)
    # whether the control plane that holds a lock still runs (runtime.py asks the OS); a lock
    # of an owner that is gone is broken at start. By default every owner but this one is gone.
    owner_alive: Callable[[Owner], bool] | None = None

    def lock_owner_alive(self, owner: Owner) -> bool:
        """Whether ``owner``, a control plane that holds a lock, still runs."""
        if owner == self.owner:
            return True
        return self.owner_alive(owner) if self.owner_alive is not None else False

    def reload_manifest(self) -> Manifest:
        """Read shipyard.yaml again (validated); the new one routes from now on."""
        manifest = load_manifest(self.paths.manifest)
        self.manifest = manifest
        self.manifest_text = self.paths.manifest.read_text()
        return manifest

    def sync_proxy(self) -> None:
        """Make HAProxy route exactly as the recorded state says."""
        with self.locks.routing:
            # the certificates first: a bad one never reaches HAProxy (the last good one stays)
            certs = self.check_certificates(keep_last_good=True)
            routes = {r.env: r for r in self.store.all_routes()}
            pages = self.store.maintenance.all()
            instances = [
                replace(i, endpoint=None) if i.id in self.held_out else i for i in self.store.instances()
            ]
            self.proxy.sync(layout_for(self.manifest, routes, instances, pages, certs))

    def check_certificates(self, *, keep_last_good: bool = False) -> dict[str, Pem]:
        """Each HTTPS listener's chain and key: from ``edge.tls`` files, checked
        (``engine/certs/files.py``), or issued by ACME (``engine/certs/issued.py``)."""
        folder = self.paths.manifest.parent
        files = self.certificates.certificates(
            self.manifest, folder, self.secrets, keep_last_good=keep_last_good
        )
        return {**files, **self.issued.certificates(self.manifest, self.secrets)}

    def data_dir(self, env: str) -> Path:
        """The environment's data folder (``environments.<env>.data_dir`` or the default)."""
        spec = self.manifest.environments.get(env)
        return self.paths.env_data(env, spec.data_dir if spec else None)

    def web_count(self, env: str) -> int:
        """Web instances per colour ``env`` runs now: with ``autoscale``, the stored count (pinned,
        else the autoscaler's desired one) within min and max; else the manifest's count."""
        scale = self.manifest.environments[env].autoscale
        state = self.store.autoscale.get(env) if scale is not None else None
        if scale is None or state is None:
            return self.manifest.instances(env)
        return max(1, min(state.count, scale.max))

    def live_instances(self, env: str, colour: str | None = None) -> list[Instance]:
        return [
            i
            for i in self.store.instances(env)
            if i.state in ("starting", "running") and (colour is None or i.colour == colour)
        ]

    def notify(self, dep_id: int, env: str, event: str, reason: str) -> None:
        """Route a rollout event to the manifest's receivers; each outcome becomes an event."""
        if self.notifier is None:
            return
        dep = self.store.deployment(dep_id)
        rollout = self.store.rollout(dep_id) or {}
        payload = {
            "event": event,
            "app": self.manifest.app,
            "env": env,
            "deployment": dep_id,
            "release": dep.release_id,
            "from_release": dep.from_release,
            "status": dep.status,
            "reason": reason,
            "change": dep.reason,  # why it was asked: a push's `<branch>@<commit>: <message>`
            "at": time.time(),
            "rollout": {
                k: rollout.get(k)
                for k in ("weight", "step", "failures", "decided_at", "zero_at", "first_error_at", "figures")
            },
        }

        def record(ok: bool, message: str) -> None:
            self.store.add_event(dep_id, "notify", message, "info" if ok else "failed")

        self.notifier.deployment_event(self.manifest, payload, record)

    def hit_failpoint(self, where: str) -> None:
        """Fault injection for crash tests (``Failpoint``)."""
        self.failpoint.hit(where)
