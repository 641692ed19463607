"""``shipyard users|tokens|audit|whoami``: people, their roles and tokens, and the audit log.

A thin edge over ``/api/users``, ``/api/tokens`` and ``/api/audit``. A new
token is printed once, on stdout alone, so it can be piped into a password
manager; the control plane keeps only its hash.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from shipyard.cli.session import client
from shipyard.errors import StateError

if TYPE_CHECKING:
    from shipyard.schemas.identity import NewToken

users_app = typer.Typer(no_args_is_help=True, help="Users, their roles per environment, and tokens.")
tokens_app = typer.Typer(no_args_is_help=True, help="Create and revoke API tokens.")
audit_app = typer.Typer(no_args_is_help=True, help="Read and verify the hash-chained audit log.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
NameArg = Annotated[str, typer.Argument(help="User name.")]
RoleOpt = Annotated[
    str, typer.Option("--role", help="viewer, deployer, approver, secrets-reader, secrets-writer or admin.")
]
EnvOpt = Annotated[str, typer.Option("--env", help="Environment the role applies to; '*' for all.")]


# The answers are decoded with shipyard.schemas' models, imported inside each command so the
# CLI starts without loading pydantic.


def _print_token(made: NewToken) -> None:
    err.print(f"token {made.token_id} for {made.user} (shown once; keep it secret):")
    print(made.token)


@users_app.command("add")
def add(name: NameArg, role: RoleOpt, env: EnvOpt = "*") -> None:
    """Add a user with one role, and print their first token."""
    from shipyard.schemas.identity import NewToken

    _print_token(
        NewToken.model_validate(client().post("/api/users", {"name": name, "role": role, "env": env}))
    )


@users_app.command("list")
def list_users() -> None:
    """Users, their roles and their tokens (ids only)."""
    from rich.table import Table

    from shipyard.schemas.identity import User

    table = Table("user", "roles", "tokens", "state")
    for u in (User.model_validate(row) for row in client().get("/api/users")):
        roles = ", ".join(f"{g.role}@{g.env}" for g in u.grants) or "-"
        toks = ", ".join(t.id + (" (revoked)" if t.revoked else "") for t in u.tokens) or "-"
        table.add_row(u.name, roles, toks, "disabled" if u.disabled else "active")
    console.print(table)


@users_app.command()
def grant(name: NameArg, role: RoleOpt, env: EnvOpt = "*") -> None:
    """Give a user a role on an environment (or on all with '*')."""
    from shipyard.schemas.identity import Changed

    data = Changed.model_validate(client().post(f"/api/users/{name}/grants", {"role": role, "env": env}))
    console.print(f"{name}: {role}@{env} {'granted' if data.changed else 'was already held'}")


@users_app.command()
def revoke(name: NameArg, role: RoleOpt, env: EnvOpt = "*") -> None:
    """Take a role away from a user."""
    from shipyard.schemas.identity import Changed

    data = Changed.model_validate(client().post(f"/api/users/{name}/revoke", {"role": role, "env": env}))
    console.print(f"{name}: {role}@{env} {'revoked' if data.changed else 'was not held'}")


@users_app.command()
def disable(name: NameArg) -> None:
    """Disable a user and revoke all their tokens."""
    from shipyard.schemas.identity import Disabled

    data = Disabled.model_validate(client().post(f"/api/users/{name}/disable"))
    console.print(f"{name} disabled; {data.tokens_revoked} token(s) revoked")


@tokens_app.command("create")
def create_token(
    name: NameArg, label: Annotated[str, typer.Option(help="What the token is for.")] = ""
) -> None:
    """Create another token for a user (for example for CI) and print it once."""
    from shipyard.schemas.identity import NewToken

    _print_token(NewToken.model_validate(client().post(f"/api/users/{name}/tokens", {"label": label})))


@tokens_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="Token id (tk_...).")]) -> None:
    """Revoke one token; its user keeps their other tokens."""
    from shipyard.schemas.identity import TokenRevoked

    data = TokenRevoked.model_validate(client().post(f"/api/tokens/{token_id}/revoke"))
    console.print(f"{token_id} of {data.user} revoked")


@audit_app.command("list")
def audit_list(
    actor: Annotated[str | None, typer.Option(help="Only this user's actions.")] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    limit: Annotated[int, typer.Option(help="Last N entries.")] = 50,
) -> None:
    """Who did what, when, from where, and the result."""
    from shipyard.schemas.identity import AuditEntries

    data = AuditEntries.model_validate(client().get("/api/audit", actor=actor, env=env, limit=limit))
    for e in data.entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
        where = f" in {e.env}" if e.env else ""
        target = f" {e.target}" if e.target else ""
        source = f" from {e.source}" if e.source else ""
        detail = f" ({e.detail})" if e.detail else ""
        console.print(
            f"#{e.id} {when} {e.actor} {e.action}{target}{where}{source}: {e.result}{detail}",
            highlight=False,
            markup=False,
        )


@audit_app.command()
def verify() -> None:
    """Check the audit log's hash chain: any changed, removed or reordered entry is found."""
    from shipyard.schemas.identity import ChainReport

    data = ChainReport.model_validate(client().get("/api/audit/verify"))
    if not data.ok:
        raise StateError(
            f"the audit log is broken at entry {data.broken_at}: {data.problem}",
            "the entries from there on cannot be trusted; restore the state database from a backup",
        )
    console.print(f"audit log intact: {data.entries} entries, hash chain verified")


def whoami() -> None:
    """The user your token belongs to, and their roles."""
    from shipyard.schemas.identity import WhoAmI

    data = WhoAmI.model_validate(client().get("/api/whoami"))
    roles = ", ".join(f"{g.role}@{g.env}" for g in data.grants) or "no role"
    console.print(f"{data.user} ({data.token_id}): {roles}")
