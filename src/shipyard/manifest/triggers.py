"""``triggers:`` in shipyard.yaml: what a git push or a host's webhook builds and where it goes.

``branches`` maps a branch name or glob to the environment its pushes deploy to
(``core/triggers/branches.py``); ``webhook`` names the vault secret that signs the hosts'
push events, and ``repository`` where a webhook's commit is fetched from. Read by
``engine/triggers/pushes.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from shipyard.core.triggers.branches import BRANCH
from shipyard.manifest.base import Model
from shipyard.manifest.checks import EnvVarName, Name


def _pattern(value: str) -> str:
    if not BRANCH.match(value.replace("*", "x").replace("?", "x").replace("[", "x").replace("]", "x")):
        raise ValueError(f"{value!r} is not a branch name or glob, such as main or release/*")
    return value


BranchPattern = Annotated[str, AfterValidator(_pattern)]


class Webhook(Model):
    secret: EnvVarName = Field(
        description="Name of the vault secret that signs push events (the host's webhook secret)."
    )
    environment: Name | None = Field(
        None, description="Environment whose vault holds the secret; default: the pipeline's environment."
    )


class Triggers(Model):
    branches: dict[BranchPattern, Name] = Field(
        default_factory=dict,
        description="Branch (or glob) -> environment its pushes deploy to; others build and test only.",
    )
    webhook: Webhook | None = Field(None, description="Push events from GitHub, GitLab or Gitea/Forgejo.")
    repository: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="Where a webhook's commit is fetched from (URL or path); default: the event's clone URL.",
    )


def check_triggers(triggers: Triggers, environments: Mapping[str, object]) -> None:
    """Every environment the triggers name exists."""
    named = [(f"triggers.branches.{b}", env) for b, env in triggers.branches.items()]
    if triggers.webhook and triggers.webhook.environment:
        named.append(("triggers.webhook.environment", triggers.webhook.environment))
    for where, env in named:
        if env not in environments:
            raise ValueError(f"{where}: unknown environment {env!r} (known: {', '.join(environments)})")
