"""What the dashboard's pages show, read from the engine's services as the API's typed answers.

The pages (``server/dashboard/pages.py``) call these on a worker thread. Each reads what the
matching API route reads (``engine.status``, ``engine.history``) and returns the same schemas
(``shipyard.schemas``), filtered to what the visitor may read; nothing here reaches the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.core.access import Principal
from shipyard.core.promotion import next_env
from shipyard.engine.engine import Engine
from shipyard.schemas import deployments as d
from shipyard.schemas.delivery import Approval


@dataclass(frozen=True)
class EnvCard:
    """One environment on the overview."""

    name: str
    status: d.EnvStatus
    last: d.Deployment | None

    @property
    def split(self) -> list[tuple[str, int]]:
        """Each release that takes requests and its share of them, in percent."""
        shares: dict[str, int] = {}
        for inst in self.status.instances:
            if inst.weight > 0:
                shares[inst.release] = inst.weight
        return sorted(shares.items(), key=lambda kv: -kv[1])

    @property
    def healthy(self) -> int:
        return sum(1 for i in self.status.instances if i.alive and i.proxy_status in (None, "UP"))


def overview(engine: Engine, who: Principal) -> list[EnvCard]:
    """Every environment the visitor may read, as ``GET /api/status`` shows it, with its last deployment."""
    status = d.Status.model_validate(engine.status())
    readable = who.readable_envs(list(status.environments))
    if not readable:
        engine.access.read(who)  # raises: no environment is readable
    latest = engine.history.latest()
    cards = []
    for env in readable:
        last = latest.get(env)
        shown = d.Deployment.model_validate(last.to_json()) if last else None
        cards.append(EnvCard(env, status.environments[env], shown))
    return cards


def deployment(engine: Engine, who: Principal, dep_id: int) -> d.Deployment:
    dep = engine.history.deployment(dep_id)
    engine.access.read(who, dep.env)
    return d.Deployment.model_validate(dep.to_json())


def is_progressive(engine: Engine, dep_id: int) -> bool:
    """Whether the deployment runs (or ran) a canary: it has a rollout record."""
    return engine.history.figures(dep_id, 2**62)["rollout"] is not None


def serving(engine: Engine, who: Principal, env: str) -> str | None:
    """The release serving ``env`` (``GET /api/status``'s), for a rollback's confirmation."""
    engine.access.read(who, env)
    return d.Status.model_validate(engine.status()).environments[env].active_release


def approvals(engine: Engine, who: Principal) -> list[Approval]:
    """The deployments waiting for approval in the environments the visitor may approve in."""
    waiting = [r for r in engine.history.waiting_approval() if who.may("approve", r.env)]
    return [Approval.model_validate(vars(r)) for r in waiting]


@dataclass(frozen=True)
class EnvReleases:
    """One environment's releases: what serves, what served before (rollback targets), and
    where the serving release goes next on the promotion path."""

    name: str
    serving: str | None
    history: list[d.Deployment]
    served: list[str]  # releases that once served here, newest first, the serving one left out
    next_env: str | None


def releases(engine: Engine, who: Principal) -> list[EnvReleases]:
    status = d.Status.model_validate(engine.status())
    envs = who.readable_envs(list(status.environments))
    if not envs:
        engine.access.read(who)  # raises: no environment is readable
    path = engine.promotion_path()
    shown = []
    for env in envs:
        deps = [d.Deployment.model_validate(x.to_json()) for x in engine.history.deployments(env, 50)]
        serving = status.environments[env].active_release
        served: list[str] = []
        for dep in deps:
            rid = dep.release_id
            if dep.status == "succeeded" and rid and rid != serving and rid not in served:
                served.append(rid)
        after = next_env(path, env) if env in path else None
        shown.append(EnvReleases(env, serving, deps, served, after))
    return shown
