"""The vault as configuration and instances see it (``core.config.SecretSource``), built by the
composition root (``runtime.py``) as the context's secrets: reads made by the runtime's own
identity through ``engine/trust/vault.py``, each audited; versions are metadata."""

from __future__ import annotations

from shipyard.engine.trust.vault import RUNTIME, Vault


class RuntimeSecrets:
    """The vault as configuration and instances see it (``core.config.SecretSource``): reads
    made by the runtime's own identity, each audited; versions are metadata."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def values(self, env: str, purpose: str = "", actor: str = RUNTIME) -> dict[str, str]:
        return self.vault.values_for(env, purpose or "runtime read", actor)

    def value(self, env: str, name: str, purpose: str, actor: str = RUNTIME) -> str | None:
        return self.vault.value_for(env, name, purpose, actor)

    def versions(self, env: str) -> dict[str, int]:
        return {m.name: m.version for m in self.vault.store.vault.metas(env, deleted=False)}
