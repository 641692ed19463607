"""The vault's HTTP routes: a thin translation to and from ``engine/vault.py``.

Per secret, under ``/api/secrets/{env}/{name}``: read (GET), write (POST), ``history``,
``delete``, ``recover``, ``purge``. Per environment or vault-wide, under ``/api/vault``:
``due``, ``{env}/import``, ``{env}/export``, ``rotate-key``. The vault service decides and
audits every call; values travel only in the bodies of a write, a read and an export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.core.vault import Secret
from shipyard.server.auth import Who, client_source

if TYPE_CHECKING:
    from shipyard.engine.engine import Engine


class SecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str = Field(max_length=65536)
    cas: int | None = Field(None, ge=0, description="the version last seen; 0: must not exist yet")
    rotate_every: float | None = Field(None, ge=0, description="seconds; 0 clears the policy")
    expires_at: float | None = Field(None, ge=0, description="epoch seconds; 0 clears it")


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, str]
    overwrite: bool = False


def register_secrets(app: FastAPI, engine: Engine) -> None:
    vault = engine.vault

    @app.get("/api/vault/due")
    def due(who: Who, within: float | None = None) -> dict[str, Any]:
        return {"secrets": vault.due(who, within)}

    @app.post("/api/vault/rotate-key")
    def rotate_key(request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, **vault.rotate_master_key(who, client_source(request))}

    @app.post("/api/vault/{env}/import")
    def import_values(env: str, body: ImportBody, request: Request, who: Who) -> dict[str, Any]:
        values = {name: Secret(value) for name, value in body.values.items()}
        written = vault.import_values(who, env, values, body.overwrite, client_source(request))
        return {"ok": True, "secrets": [m.to_json() for m in written]}

    @app.get("/api/vault/{env}/export")
    def export(env: str, request: Request, who: Who) -> dict[str, Any]:
        values = vault.export(who, env, client_source(request))
        return {"values": {name: value.reveal() for name, value in values.items()}}

    @app.get("/api/secrets/{env}")
    def listing(env: str, who: Who) -> dict[str, Any]:
        return {"secrets": vault.listing(who, env)}

    @app.get("/api/secrets/{env}/{name}")
    def read(env: str, name: str, request: Request, who: Who, version: int | None = None) -> dict[str, Any]:
        value = vault.get(who, env, name, version, client_source(request))
        return {"env": env, "name": name, "version": version, "value": value.reveal()}

    @app.get("/api/secrets/{env}/{name}/history")
    def history(env: str, name: str, who: Who) -> dict[str, Any]:
        return vault.history(who, env, name)

    @app.post("/api/secrets/{env}/{name}")
    def write(env: str, name: str, body: SecretBody, request: Request, who: Who) -> dict[str, Any]:
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
        return {"ok": True, **meta.to_json()}

    @app.post("/api/secrets/{env}/{name}/delete")
    def delete(env: str, name: str, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, **vault.delete(who, env, name, client_source(request)).to_json()}

    @app.post("/api/secrets/{env}/{name}/recover")
    def recover(env: str, name: str, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, **vault.recover(who, env, name, client_source(request)).to_json()}

    @app.post("/api/secrets/{env}/{name}/purge")
    def purge(env: str, name: str, request: Request, who: Who) -> dict[str, Any]:
        return {"ok": True, "versions_destroyed": vault.purge(who, env, name, client_source(request))}
