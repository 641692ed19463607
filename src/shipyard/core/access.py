"""Who may do what: roles, their permissions, grants scoped per environment. Pure decisions.

A user holds grants (a role on one environment, or on ``*`` for all of them).
Deny by default: an action is allowed only when one of the user's grants has a
role that includes the action's permission, on the environment concerned. An
action that concerns no single environment (user management, shutdown, the
audit log) needs a grant on ``*``. The API calls ``decide`` for every request
through the engine's access service; tests check the whole role matrix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from shipyard.errors import ForbiddenError, InputError

Role = Literal["viewer", "deployer", "approver", "secrets-reader", "secrets-writer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "deployer", "approver", "secrets-reader", "secrets-writer", "admin")
ALL_ENVS = "*"

# What each permission covers:
#   read        status, releases, deployments, rollouts (never secret values)
#   deploy      deploy, rollback, rollout verbs and retry
#   approve     approve or reject a deployment waiting for approval
#   lock        break an environment's deploy lock
#   admin       users, tokens, shutdown, the audit log, the vault's master key
#   secrets-list   names and metadata of secrets (versions, who, when, rotation), never values
#   secrets-read   a secret's value (get, export); every read is audited
#   secrets-write  set, delete, recover, import
#   secrets-purge  destroy a deleted secret and all its versions for good
# As in Azure Key Vault's RBAC (Reader / Secrets User / Secrets Officer), reading values is
# its own role: deployers and approvers see that a secret exists, not what it holds.
PERMISSIONS: dict[Role, frozenset[str]] = {
    "viewer": frozenset({"read", "secrets-list"}),
    "deployer": frozenset({"read", "deploy", "secrets-list"}),
    "approver": frozenset({"read", "approve", "secrets-list"}),
    "secrets-reader": frozenset({"read", "secrets-list", "secrets-read"}),
    "secrets-writer": frozenset({"read", "secrets-list", "secrets-read", "secrets-write"}),
    "admin": frozenset(
        {
            "read",
            "deploy",
            "approve",
            "lock",
            "admin",
            "secrets-list",
            "secrets-read",
            "secrets-write",
            "secrets-purge",
        }
    ),
}
ACTIONS = frozenset().union(*PERMISSIONS.values())
USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,39}$")
SYSTEM_USERS = frozenset({"shipyard", "runtime"})  # identities the control plane acts as itself


@dataclass(frozen=True)
class Grant:
    role: Role
    env: str  # an environment's name, or "*"


@dataclass(frozen=True)
class Principal:
    """The user behind a request, with what they were granted."""

    user: str
    grants: tuple[Grant, ...]
    token_id: str = ""

    def may(self, action: str, env: str | None) -> bool:
        for grant in self.grants:
            if action not in PERMISSIONS[grant.role]:
                continue
            if grant.env == ALL_ENVS or (env is not None and grant.env == env):
                return True
        return False

    def readable_envs(self, envs: list[str]) -> list[str]:
        return [e for e in envs if self.may("read", e)]


def decide(principal: Principal, action: str, env: str | None) -> None:
    """Raise ``ForbiddenError`` unless ``principal`` may do ``action`` on ``env`` (None: all)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if principal.may(action, env):
        return
    where = f"environment {env!r}" if env else "every environment (a grant on '*')"
    needed = [r for r in ROLES if action in PERMISSIONS[r]]
    held = ", ".join(f"{g.role} on {g.env}" for g in principal.grants) or "no role"
    raise ForbiddenError(
        f"user {principal.user!r} may not {action} in {where}: they hold {held}",
        f"an admin can grant it: `shipyard users grant {principal.user} --role {needed[0]}"
        + (f" --env {env}`" if env else "`"),
    )


def check_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise InputError(f"unknown role {role!r}", f"use one of: {', '.join(ROLES)}")


def check_user_name(name: str) -> str:
    if not USER_NAME.match(name) or name in SYSTEM_USERS:
        raise InputError(
            f"invalid user name {name!r}",
            "use lowercase letters, digits, '.', '_' or '-', starting with a letter, at most 40 "
            f"characters; {', '.join(sorted(SYSTEM_USERS))} are reserved",
        )
    return name


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256 (tokens are 256 random bits, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str:
    """A short public name of a token, safe to print and to audit."""
    return "tk_" + token_hash(token)[:10]
