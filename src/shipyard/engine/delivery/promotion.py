"""Promotion: deploy the exact release that passed the previous environment of the path.

``Engine.promote`` picks the release (by default the one serving the previous
environment) and asks ``core/promotion.py`` whether it may go on. The deploy
step "build" of a deployment of an existing release calls ``prepare_existing``:
the snapshot's checksum is verified on disk (same artifact, not a rebuild) and
recorded on the deployment, and a configuration release is made when the
environment's configuration changed since the release recorded it.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.core.promotion import Passed, check_promotion, check_rollback, check_target
from shipyard.core.records import Release
from shipyard.drivers.runtime.builder import tree_checksum
from shipyard.engine.context import Context
from shipyard.engine.delivery.config import release_for, resolve_env
from shipyard.errors import ConflictError, DeployError


def pick_release(ctx: Context, release_id: str | None, target: str) -> tuple[str, str | None]:
    """(release to promote, environment before ``target``), checked against the path's rules."""
    manifest = ctx.manifest
    path = manifest.promotion.path if manifest.promotion else None
    before = check_target(path, target)
    if release_id is None:
        if before is None:
            raise ConflictError(
                f"{target} is the first environment of the path: name the release to promote",
                f"`shipyard promote RELEASE --to {target}` (see `shipyard releases`)",
            )
        release_id = ctx.store.route(before).active_release
        if release_id is None:
            raise ConflictError(
                f"nothing is serving {before}, so there is no release to promote to {target}",
                f"deploy {before} first, or name the release: `shipyard promote RELEASE --to {target}`",
            )
    release = ctx.store.release(release_id)
    builds = {r.id: r.base_release or r.id for r in ctx.store.releases()}
    history = (
        [
            Passed(d.env, builds.get(d.release_id or "", d.release_id), d.status)
            for d in ctx.store.deployments(before, limit=10000)
        ]
        if before
        else []
    )
    require = manifest.promotion.require_previous if manifest.promotion else False
    try:
        check_promotion(path, require, target, release.base_release or release.id, history)
    except ConflictError as exc:
        if release.base_release:  # name the release the user gave, not its build
            exc.message = exc.message.replace(
                release.base_release, f"{release.id} (build {release.base_release})", 1
            )
        raise
    return release.id, before


def check_rollback_target(ctx: Context, env: str, release_id: str) -> None:
    """Refuse a rollback of ``env`` to a release that never served it (see ``core.promotion``)."""
    history = [Passed(d.env, d.release_id, d.status) for d in ctx.store.deployments(env, limit=100000)]
    check_rollback(env, release_id, history)


def verify_snapshot(release: Release) -> str:
    """The release folder must still hold exactly what was built: same artifact, same checksum."""
    found = tree_checksum(Path(release.path) / "app")
    if found != release.checksum:
        raise DeployError(
            f"release {release.id}'s snapshot in {release.path} changed since it was built "
            f"(checksum {found[:12]}, recorded {release.checksum[:12]})",
            "build a new release with `shipyard deploy`; never edit files under .shipyard/releases",
        )
    return found


def prepare_existing(ctx: Context, dep_id: int, env: str, release_id: str, kind: str) -> tuple[Release, str]:
    """The deploy step "build" for an existing release: verify, record, configure."""
    release = ctx.store.release(release_id)
    verify_snapshot(release)
    detail = f"using existing release {release.id} (checksum {release.checksum[:12]} verified)"
    if kind != "rollback":  # a rollback restores the release's own recorded configuration
        configured = release_for(ctx, release, env, resolve_env(ctx, env))
        if configured.id != release.id:
            detail += f"; {env}'s configuration changed since, so it runs as {configured.id}"
            ctx.store.set_deployment_release(dep_id, configured.id)
            release = configured
    ctx.store.set_deployment_checksum(dep_id, release.checksum)
    return release, detail
