"""The engine's face: deploy, rollback, status and shutdown, as the API calls them.

Deployments run in a thread each while their environment's lock is held. A
rollback to a colour that is still running is a single routing change made in
the request itself; otherwise it becomes a deployment of the earlier release.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from shipyard.core.records import NewDeployment, Route
from shipyard.drivers.procs import stored_ref
from shipyard.engine.context import Context
from shipyard.engine.deploy import Deployment, stop_instances
from shipyard.engine.reconcile import Reconciler, reconcile_at_start
from shipyard.errors import ConflictError, NotFoundError


class Engine:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reconciler = Reconciler(ctx)
        self._threads: list[threading.Thread] = []

    def start(self) -> list[str]:
        done = reconcile_at_start(self.ctx)
        self.reconciler.start()
        return done

    def close(self) -> None:
        self.reconciler.stop()
        for thread in self._threads:
            thread.join(timeout=1)

    # deploy ----------------------------------------------------------------------------------
    def deploy(
        self,
        env: str,
        requested_by: str,
        release_id: str | None = None,
        kind: str = "deploy",
        reason: str = "",
    ) -> int:
        ctx = self.ctx
        manifest = ctx.reload_manifest()
        self._check_env(env, manifest.environments)
        if release_id is not None:
            ctx.store.release(release_id)  # NotFoundError names the fix
        route = ctx.store.route(env)
        dep_id = ctx.store.begin_deployment(
            NewDeployment(
                env=env,
                kind=kind,
                requested_by=requested_by,
                release_id=release_id,
                from_release=route.active_release,
                reason=reason,
            ),
            ctx.owner,
        )
        ctx.sync_proxy()  # a new environment or port gets its frontend now
        job = Deployment(ctx, dep_id, env, release_id)
        thread = threading.Thread(target=job.run, name=f"deploy-{dep_id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return dep_id

    # rollback --------------------------------------------------------------------------------
    def rollback(self, env: str, requested_by: str, to: str | None = None) -> int:
        ctx = self.ctx
        self._check_env(env, ctx.manifest.environments)
        route = ctx.store.route(env)
        target = to or route.standby_release
        if target is None:
            raise ConflictError(
                f"environment {env!r} has no earlier release to roll back to",
                "deploy at least twice, or name a release with --to (see `shipyard releases`)",
            )
        ctx.store.release(target)
        if target == route.active_release:
            raise ConflictError(f"{target} is already serving {env}", "name another release with --to")
        standby = ctx.live_instances(env, route.standby_colour) if route.standby_colour else []
        up = standby and all(ctx.runtime.alive(stored_ref(i.pid, i.create_time)) for i in standby)
        if route.standby_release != target or not up:
            return self.deploy(env, requested_by, target, kind="rollback", reason=f"to {target}")
        return self._instant_rollback(env, requested_by, route)

    def _instant_rollback(self, env: str, requested_by: str, route: Route) -> int:
        ctx = self.ctx
        dep_id = ctx.store.begin_deployment(
            NewDeployment(
                env=env,
                kind="rollback",
                requested_by=requested_by,
                release_id=route.standby_release,
                from_release=route.active_release,
                reason=f"to {route.standby_release}",
            ),
            ctx.owner,
        )
        step = ctx.store.start_step(dep_id, "switch")
        started = time.monotonic()
        window = ctx.manifest.strategy_for(env).rollback_window
        swapped = Route(
            env,
            route.standby_colour,
            route.standby_release,
            route.active_colour,
            route.active_release,
            time.time() + window,
        )
        try:
            with ctx.mutex:
                ctx.store.set_route(swapped)
                ctx.sync_proxy()
        except Exception as exc:
            with ctx.mutex:
                ctx.store.set_route(route)
                ctx.sync_proxy()
            ctx.store.finish_step(dep_id, step, "switch", "failed", str(exc))
            ctx.store.finish_deployment(dep_id, "failed", str(exc), "see `shipyard status`")
            raise
        took = (time.monotonic() - started) * 1000
        ctx.store.finish_step(
            dep_id,
            step,
            "switch",
            "ok",
            f"traffic back on {swapped.active_colour} ({swapped.active_release}) in {took:.1f} ms",
        )
        ctx.store.finish_deployment(dep_id, "succeeded")
        return dep_id

    # status and shutdown ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        ctx = self.ctx
        proxy_states = {}
        if ctx.proxy.is_running():
            proxy_states = {(s.backend, s.name): s for s in ctx.proxy.server_states()}
        envs: dict[str, Any] = {}
        for env, spec in ctx.manifest.environments.items():
            route = ctx.store.route(env)
            held = ctx.store.lock(env)
            insts = []
            for i in ctx.live_instances(env):
                seen = proxy_states.get((f"be_{env}", i.name))
                insts.append(
                    {
                        "name": i.name,
                        "release": i.release_id,
                        "port": i.port,
                        "pid": i.pid,
                        "state": i.state,
                        "restarts": i.restarts,
                        "alive": ctx.runtime.alive(stored_ref(i.pid, i.create_time)),
                        "proxy_status": seen.status if seen else None,
                        "weight": seen.weight if seen else None,
                    }
                )
            envs[env] = {
                "url": f"http://{spec.bind}:{spec.port}/",
                "active_colour": route.active_colour,
                "active_release": route.active_release,
                "standby_colour": route.standby_colour,
                "standby_release": route.standby_release,
                "standby_until": route.standby_until,
                "lock": None
                if held is None
                else {
                    "holder": held.holder,
                    "reason": held.reason,
                    "since": held.acquired_at,
                    "deployment": held.deployment_id,
                },
                "instances": insts,
            }
        return {
            "app": ctx.manifest.app,
            "proxy_running": ctx.proxy.is_running(),
            "environments": envs,
            "reconciler_errors": self.reconciler.errors,
        }

    def break_lock(self, env: str) -> dict[str, Any]:
        held = self.ctx.store.break_lock(env, "interrupted", "lock broken by hand")
        if held is None:
            raise NotFoundError(f"environment {env!r} is not locked", "nothing to do")
        return {"env": env, "deployment": held.deployment_id, "holder": held.holder}

    def shutdown(self) -> None:
        """Stop every instance and HAProxy (``shipyard down``)."""
        self.reconciler.stop()
        ctx = self.ctx
        stop_instances(ctx, ctx.store.instances(), 5.0)
        ctx.proxy.stop()

    @staticmethod
    def _check_env(env: str, known: dict[str, Any]) -> None:
        if env not in known:
            raise NotFoundError(
                f"environment {env!r} is not in shipyard.yaml (known: {', '.join(sorted(known))})",
                "pick one of those, or add it under `environments` in shipyard.yaml",
            )
