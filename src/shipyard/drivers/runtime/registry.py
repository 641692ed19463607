"""Pushing a release's image to the manifest's ``registry:`` and pulling it back by digest.

``push`` tags the built image ``<address>/shipyard/<app>:<release id>``, pushes it through the
Docker Engine API (credentials, when the manifest names them, go in the request's auth header,
never on a command line or in a log) and answers the repository digest the registry gave
(``<address>/shipyard/<app>@sha256:...``), which ``images.ImageBuilder`` records in the release.
A refused or unreachable push is a ``BuildError`` saying what the registry answered.
``pull`` fetches an image by that digest on an engine that does not have it (``runtime:
docker`` on a fresh machine; a Swarm node pulls by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker.errors
from docker import DockerClient

from shipyard.core.config import SecretSource
from shipyard.errors import BuildError, InstanceError
from shipyard.manifest.registry import Registry


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def auth(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def __repr__(self) -> str:  # never the password
        return f"Credentials({self.username!r}, ***)"


def repository(address: str, app: str) -> str:
    return f"{address.rstrip('/')}/shipyard/{app}"


def push(
    client: DockerClient, image_id: str, address: str, app: str, tag: str, login: Credentials | None
) -> str:
    """Push ``image_id`` as ``<address>/shipyard/<app>:<tag>``; its digest reference."""
    repo, digest = repository(address, app), ""
    hint = (
        f"check that the registry at {address} runs and accepts pushes (`curl http://{address}/v2/`), "
        "and registry.username / registry.password_secret; the serving version is untouched"
    )
    try:
        client.images.get(image_id).tag(repo, tag)
        auth = login.auth() if login else None
        answer = client.images.push(repo, tag, stream=True, decode=True, auth_config=auth)
        digest, refused = _digest(answer)
    except (docker.errors.DockerException, OSError) as exc:
        refused = str(exc)
    if refused or not digest:
        raise BuildError(
            f"registry {address} refused the push of {repo}:{tag}: {refused or 'no digest'}", hint
        )
    return f"{repo}@{digest}"


def _digest(answer: Any) -> tuple[str, str]:
    """The pushed manifest's digest from the push's JSON stream, and the registry's error if any."""
    digest = ""
    for chunk in answer:
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            return "", str(chunk["error"])
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
    return digest, ""


def pull(client: DockerClient, reference: str, login: Credentials | None = None) -> str:
    """Pull ``reference`` (``repo@sha256:...``) and answer the local image id."""
    repo, _, digest = reference.partition("@")
    try:
        image = client.images.pull(repo, tag=digest, auth_config=login.auth() if login else None)
    except docker.errors.DockerException as exc:
        raise InstanceError(
            f"could not pull {reference}: {exc}",
            "check that the registry runs and still holds the release's image; deploy again to push it",
        ) from None
    return str(image.id)


def vault_login(registry: Registry, secrets: SecretSource, first_env: str) -> Credentials | None:
    """``registry``'s credentials: its user and the vault secret ``password_secret`` names."""
    if registry.username is None or registry.password_secret is None:
        return None
    env = registry.secret_environment or first_env
    value = secrets.value(env, registry.password_secret, "registry push")
    if value is None:
        raise BuildError(
            f"registry.password_secret: the vault of {env} has no secret {registry.password_secret}",
            f"set it (`shipyard secrets set {env} {registry.password_secret}`) or fix "
            "registry.secret_environment, then deploy again",
        )
    return Credentials(registry.username, value)
