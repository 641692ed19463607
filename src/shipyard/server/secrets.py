"""The vault's HTTP routes: a thin translation to and from ``engine/trust/vault.py``.

Per secret, under ``/api/secrets/{env}/{name}``: read (GET), write (POST), ``history``,
``delete``, ``recover``, ``purge``. Per environment or vault-wide, under ``/api/vault``:
``due``, ``{env}/import``, ``{env}/export``, ``rotate-key``. The vault service decides and
audits every call; values travel only in the bodies of a write, a read and an export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request

from shipyard.core.vault import Secret
from shipyard.schemas import secrets as s
from shipyard.server.auth import Who, client_source
from shipyard.server.params import EnvPath, SecretPath, Version, Within

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine


def register_secrets(app: FastAPI, engine: Engine) -> None:
    vault = engine.vault

    @app.get("/api/vault/due")
    def due(who: Who, within: Within | None = None) -> s.DueList:
        return s.DueList.model_validate({"secrets": vault.due(who, within)})

    @app.post("/api/vault/rotate-key")
    def rotate_key(request: Request, who: Who) -> s.KeyRotated:
        return s.KeyRotated.model_validate(vault.rotate_master_key(who, client_source(request)))

    @app.post("/api/vault/{env}/import")
    def import_values(env: EnvPath, body: s.ImportBody, request: Request, who: Who) -> s.Imported:
        values = {name: Secret(value) for name, value in body.values.items()}
        written = vault.import_values(who, env, values, body.overwrite, client_source(request))
        return s.Imported(secrets=[s.Meta.model_validate(m.to_json()) for m in written])

    @app.get("/api/vault/{env}/export")
    def export(env: EnvPath, request: Request, who: Who) -> s.Exported:
        values = vault.export(who, env, client_source(request))
        return s.Exported(values={name: value.reveal() for name, value in values.items()})

    @app.get("/api/secrets/{env}")
    def listing(env: EnvPath, who: Who) -> s.SecretList:
        return s.SecretList.model_validate({"secrets": vault.listing(who, env)})

    @app.get("/api/secrets/{env}/{name}")
    def read(
        env: EnvPath, name: SecretPath, request: Request, who: Who, version: Version | None = None
    ) -> s.SecretValue:
        value = vault.get(who, env, name, version, client_source(request))
        return s.SecretValue(env=env, name=name, version=version, value=value.reveal())

    @app.get("/api/secrets/{env}/{name}/history")
    def history(env: EnvPath, name: SecretPath, who: Who) -> s.History:
        return s.History.model_validate(vault.history(who, env, name))

    @app.post("/api/secrets/{env}/{name}")
    def write(env: EnvPath, name: SecretPath, body: s.SecretBody, request: Request, who: Who) -> s.Written:
        meta = vault.set(
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
    def delete(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Written:
        return s.Written.model_validate(vault.delete(who, env, name, client_source(request)).to_json())

    @app.post("/api/secrets/{env}/{name}/recover")
    def recover(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Written:
        return s.Written.model_validate(vault.recover(who, env, name, client_source(request)).to_json())

    @app.post("/api/secrets/{env}/{name}/purge")
    def purge(env: EnvPath, name: SecretPath, request: Request, who: Who) -> s.Purged:
        return s.Purged(versions_destroyed=vault.purge(who, env, name, client_source(request)))
