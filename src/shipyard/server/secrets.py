"""The vault's HTTP routes: a thin translation to and from ``engine/trust/vault.py``.

Per secret, under ``/api/secrets/{env}/{name}``: read (GET), write (POST), ``history``,
``delete``, ``recover``, ``purge``. Per environment or vault-wide, under ``/api/vault``:
``due``, ``{env}/import``, ``{env}/export``, ``rotate-key``. The vault service decides and
audits every call; values travel only in the bodies of a write, a read and an export.

The routes are ``async`` and hand the vault's call to a worker thread once (``run_in_threadpool``):
FastAPI runs a sync route's function and then the check of its answer on the thread pool one
after the other, two trips there and back for each request; here the answer is checked on
the event loop, and the database's reads, writes and fsync stay off it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from shipyard.core.vault import Secret
from shipyard.schemas import secrets as s
from shipyard.server.auth import Who, client_source
from shipyard.server.params import EnvPath, SecretPath, Version, Within

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine


def register_secrets(app: FastAPI, engine: Engine) -> None:
    vault = engine.vault

    @app.get("/api/vault/due")
    async def due(who: Who, within: Within | None = None) -> s.DueList:
        return s.DueList.model_validate({"secrets": await run_in_threadpool(vault.due, who, within)})

    @app.post("/api/vault/rotate-key")
    async def rotate_key(request: Request, who: Who) -> s.KeyRotated:
        rotated = await run_in_threadpool(vault.rotate_master_key, who, client_source(request))
        return s.KeyRotated.model_validate(rotated)

    @app.post("/api/vault/{env}/import")
    async def import_values(env: EnvPath, body: s.ImportBody, request: Request, who: Who) -> s.Imported:
        values = {name: Secret(value) for name, value in body.values.items()}
        source = client_source(request)
        written = await run_in_threadpool(vault.import_values, who, env, values, body.overwrite, source)
        return s.Imported(secrets=[s.Meta.model_validate(m.to_json()) for m in written])

    @app.get("/api/vault/{env}/export")
    async def export(env: EnvPath, request: Request, who: Who) -> s.Exported:
        values = await run_in_threadpool(vault.export, who, env, client_source(request))
        return s.Exported(values={name: value.reveal() for name, value in values.items()})

    @app.get("/api/secrets/{env}")
    async def listing(env: EnvPath, who: Who) -> s.SecretList:
        return s.SecretList.model_validate({"secrets": await run_in_threadpool(vault.listing, who, env)})

    @app.get("/api/secrets/{env}/{name}")
    async def read(
        env: EnvPath, name: SecretPath, request: Request, who: Who, version: Version | None = None
    ) -> s.SecretValue:
        value = await run_in_threadpool(vault.get, who, env, name, version, client_source(request))
        return s.SecretValue(env=env, name=name, version=version, value=value.reveal())

    @app.get("/api/secrets/{env}/{name}/history")
    async def history(env: EnvPath, name: SecretPath, who: Who) -> s.History:
        return s.History.model_validate(await run_in_threadpool(vault.history, who, env, name))

    @app.post("/api/secrets/{env}/{name}")
    async def write(
        env: EnvPath, name: SecretPath, body: s.SecretBody, request: Request, who: Who
    ) -> s.Written:
        meta = await run_in_threadpool(
            vault.set,
            who,
            env,
            name,
            Secret(body.value),
            cas=body.cas,
            rotate_every=body.rotate_every,
            expires_at=body.expires_at,
            source=client_source(request),
        )
        return s.Written.model_validate(meta.to_json())

    @app.post("/api/secrets/{env}/{name}/delete")
    async def delete(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Written:
        meta = await run_in_threadpool(vault.delete, who, env, name, client_source(request))
        return s.Written.model_validate(meta.to_json())

    @app.post("/api/secrets/{env}/{name}/recover")
    async def recover(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Written:
        meta = await run_in_threadpool(vault.recover, who, env, name, client_source(request))
        return s.Written.model_validate(meta.to_json())

    @app.post("/api/secrets/{env}/{name}/purge")
    async def purge(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Purged:
        destroyed = await run_in_threadpool(vault.purge, who, env, name, client_source(request))
        return s.Purged(versions_destroyed=destroyed)
