"""Configuration at run time: resolve an environment's layers, record them on releases, feed instances.

The engine calls ``resolve_env`` before a deployment starts (a missing or
malformed required value refuses it; this reads the secrets' values),
``snapshot`` when a release is built and ``show``/``diff`` (``ConfigView``) for ``shipyard config``
(these know the secrets' names and versions only: they never read a secret),
``release_for`` to make a configuration release, and ``instance_config`` whenever an instance
starts: an instance gets the configuration its release recorded, so a rollback
restores code and configuration together. Secrets are taken from the vault at
start, at their current version (the release records names and versions only).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from shipyard.core import config as c
from shipyard.core.records import Release
from shipyard.engine.context import Context
from shipyard.manifest.models import Manifest


def resolve_env(
    ctx: Context, env: str, manifest: Manifest | None = None, secrets: Mapping[str, str] | None = None
) -> dict[str, c.Setting]:
    """Resolve ``env`` with the secrets' values (read from the vault unless given) and check
    every rule; raise listing every problem. Used before a deployment starts."""
    manifest = manifest or ctx.manifest
    spec = manifest.environments[env]
    variables = c.variables_for(env, os.environ, list(manifest.environments))
    if secrets is None:
        secrets = ctx.secrets.values(env, "configuration check")
    return c.resolve(env, manifest.config, spec.config, variables, secrets, manifest.config_schema)


def resolve_names(
    ctx: Context, env: str, manifest: Manifest | None = None
) -> tuple[dict[str, c.Setting], list[tuple[str, str]]]:
    """Resolve ``env`` knowing only which secrets exist (no secret is read): enough to show and
    record the configuration; values that use a secret are not checked against the rules here."""
    manifest = manifest or ctx.manifest
    spec = manifest.environments[env]
    variables = c.variables_for(env, os.environ, list(manifest.environments))
    names = dict.fromkeys(ctx.secrets.versions(env), "")
    return c.resolve_partly(
        env, manifest.config, spec.config, variables, names, manifest.config_schema, check_sensitive=False
    )


def recorded(ctx: Context, env: str, settings: Mapping[str, c.Setting]) -> dict[str, Any]:
    versions = ctx.secrets.versions(env)
    return {key: s.record(versions) for key, s in sorted(settings.items())}


def snapshot(ctx: Context, manifest: Manifest) -> dict[str, Any]:
    """The recorded configuration of every environment that resolves now (others are left out:
    they are resolved, and refused if still broken, when the release is deployed there)."""
    out: dict[str, Any] = {}
    for env in manifest.environments:
        settings, problems = resolve_names(ctx, env, manifest)
        if not problems:
            out[env] = recorded(ctx, env, settings)
    return out


def with_config(ctx: Context, release: Release) -> Release:
    from dataclasses import replace

    return replace(release, config=json.dumps(snapshot(ctx, ctx.manifest), sort_keys=True))


def release_for(ctx: Context, release: Release, env: str, settings: Mapping[str, c.Setting]) -> Release:
    """``release`` if it recorded ``env``'s configuration as it is now; otherwise a new
    configuration release: the same build (folder, checksum) with the configuration of now."""
    current = recorded(ctx, env, settings)
    config = json.loads(release.config or "{}")
    if config.get(env) == current:
        return release
    with ctx.locks.build:
        number = ctx.store.next_release_number()
        made = Release(
            id=f"r{number}",
            number=number,
            created_at=time.time(),
            checksum=release.checksum,
            deps_hash=release.deps_hash,
            path=release.path,
            manifest=release.manifest,
            source=f"configuration change of {release.id}",
            config=json.dumps(config | {env: current}, sort_keys=True),
            base_release=release.base_release or release.id,
        )
        ctx.store.add_release(made)
    return made


def instance_config(ctx: Context, release: Release, env: str, secrets: Mapping[str, str]) -> dict[str, str]:
    """The configuration variables an instance of ``release`` in ``env`` starts with, given
    the environment's secret values (read once per instance start, by the caller)."""
    config = json.loads(release.config or "{}")
    if env in config:
        return c.materialize(config[env], secrets, env)
    return {key: s.value for key, s in resolve_env(ctx, env, secrets=secrets).items()}  # before 0005


def show(ctx: Context, env: str) -> dict[str, Any]:
    """The merged configuration of ``env`` with each value's origin, secrets masked, and what
    would stop a deployment (problems are shown, not raised: this is where one looks into them)."""
    settings, problems = resolve_names(ctx, env)
    return {
        "env": env,
        "problems": [{"problem": p, "fix": fix} for p, fix in problems],
        "values": [
            {"key": s.key, "value": s.shown, "origin": s.origin, "layer": s.layer, "secrets": list(s.secrets)}
            for s in sorted(settings.values(), key=lambda s: s.key)
        ],
    }


def diff(ctx: Context, a: str, b: str) -> dict[str, Any]:
    return {"a": a, "b": b, "changes": c.diff(resolve_names(ctx, a)[0], resolve_names(ctx, b)[0])}


class ConfigView:
    """``shipyard config show|diff`` for the API (``Engine.config``): shipyard.yaml read again
    first, so the answer is what a deployment started now would get."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def show(self, env: str) -> dict[str, Any]:
        self._ctx.reload_manifest()
        return show(self._ctx, env)

    def diff(self, a: str, b: str) -> dict[str, Any]:
        self._ctx.reload_manifest()
        return diff(self._ctx, a, b)
