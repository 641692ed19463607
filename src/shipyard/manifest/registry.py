"""``registry:`` in shipyard.yaml: the Docker Registry v2 endpoint release images are pushed to.

Read by ``images.ImageBuilder`` (the push after the build) and needed by ``runtime: swarm``
(every node pulls the release's image by digest from it).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shipyard.manifest.base import Model
from shipyard.manifest.checks import Name


class Registry(Model):
    address: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{0,252}(:[0-9]{1,5})?(/[a-z0-9._-]+)*$",
        description="Registry host and port (and an optional path), e.g. `127.0.0.1:5000` or "
        "`registry.example.com/team`; images are pushed as `<address>/shipyard/<app>:<release>`.",
    )
    username: str | None = Field(None, min_length=1, description="User name the push logs in with.")
    password_secret: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="Vault secret holding the registry password (read at push time, never logged).",
    )
    secret_environment: Name | None = Field(
        None, description="Environment whose vault holds `password_secret` (default: the first one)."
    )

    @model_validator(mode="after")
    def _pair(self) -> Registry:
        if (self.username is None) != (self.password_secret is None):
            raise ValueError("registry: give both `username` and `password_secret`, or neither")
        return self
