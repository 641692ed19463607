"""What every process of the app gets in its environment: instances and migration commands alike.

In order, a later entry winning on the same name: the database's ``DATABASE_URL``, the
manifest's ``env``, the environment's secrets (one audited read by the runtime), the
release's recorded configuration, then Shipyard's own variables. So a team that sets
``DATABASE_URL`` itself (in ``config``, from a secret) keeps its own (``AppDatabases``, the
one service of the app's database, is passed in). Called by ``instances.start_instance`` and
``migrations``.
"""

from __future__ import annotations

from shipyard.core.records import Release
from shipyard.engine.context import Context
from shipyard.engine.data.database import AppDatabases
from shipyard.engine.delivery.config import instance_config


def app_environment(
    ctx: Context, databases: AppDatabases, release: Release, env: str, purpose: str, actor: str = "runtime"
) -> dict[str, str]:
    """The variables of one process of ``release`` in ``env``; ``purpose`` names it in the audit
    log, where the secrets' read is attributed to ``actor`` (a user running a command by hand)."""
    data = ctx.data_dir(env)
    data.mkdir(parents=True, exist_ok=True)
    secrets = ctx.secrets.values(env, purpose, actor)
    return {
        **databases.variables(env, secrets),
        **ctx.manifest.env_vars(env),
        **secrets,
        **instance_config(ctx, release, env, secrets),
        "SHIPYARD_ENV": env,
        "SHIPYARD_RELEASE": release.id,
        "SHIPYARD_DATA_DIR": str(data),
    }
