"""``shipyard secrets ...``: the vault from the command line, a thin edge over the API.

Values are read from standard input or a hidden prompt, never from an argument (which
would land in shell history and in ``ps``). Only ``get`` and ``export`` print values, and
only to standard output, so they can be piped; everything else shows them masked.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shipyard.cli.session import client
from shipyard.core.dotenv import parse_dotenv, render_dotenv
from shipyard.core.durations import parse_duration
from shipyard.core.secret_limits import MAX_VALUE, check_import_file
from shipyard.drivers.files import write_atomic
from shipyard.errors import VaultError

secrets_app = typer.Typer(no_args_is_help=True, help="The secrets vault: encrypted, versioned, audited.")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EnvArg = Annotated[str, typer.Argument(help="Environment.")]
NameArg = Annotated[str, typer.Argument(help="Secret name (an environment variable name).")]


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"


def _seconds(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise VaultError(f"{what}: {exc}", "for example 90d, 12h or 0 to clear it") from None


def _expiry(text: str | None) -> float | None:
    """An expiry date (2027-03-01, or a full ISO time) or a duration from now (30d); 0 clears it."""
    if text is None:
        return None
    if text == "0":
        return 0.0
    try:
        return time.time() + parse_duration(text)
    except ValueError:
        pass
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        raise VaultError(
            f"--expires: {text!r} is neither a date nor a duration",
            "write a date such as 2027-03-01 (or 2027-03-01T12:00+00:00), or a duration such as 90d",
        ) from None
    return stamp.timestamp()


def _read_value(name: str) -> str:
    if not sys.stdin.isatty():
        value = sys.stdin.read(MAX_VALUE + 2)  # never more than the vault could take
        value = value[:-1] if value.endswith("\n") else value
        if len(value.encode()) > MAX_VALUE:
            raise VaultError(
                f"the value of {name} on stdin is longer than {MAX_VALUE // 1024} KiB, "
                "the limit of one secret",
                "keep large material out of the vault (a file in the app's data folder)",
            )
    else:
        value = typer.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    if not value:
        raise VaultError(f"no value given for {name}", "pipe it on stdin, or type it at the prompt")
    return value


@secrets_app.command("set")
def set_secret(
    env: EnvArg,
    name: NameArg,
    cas: Annotated[
        int | None, typer.Option(help="Write only if the secret is at this version (0: must be new).")
    ] = None,
    rotate_every: Annotated[str | None, typer.Option(help="Rotation period, e.g. 90d; 0 clears it.")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry date (2027-03-01) or duration (30d).")] = None,
) -> None:
    """Write a new version of a secret; the value comes from stdin or a hidden prompt."""
    from shipyard.schemas.secrets import SecretList, Written

    api = client()
    if cas is None:  # check-and-set against what exists now, so a concurrent write is refused
        listed = SecretList.model_validate(api.get(f"/api/secrets/{env}")).secrets
        cas = next((s.version for s in listed if s.name == name and not s.deleted_at), 0)
    body: dict[str, Any] = {
        "value": _read_value(name),
        "cas": cas,
        "rotate_every": _seconds(rotate_every, "--rotate-every"),
        "expires_at": _expiry(expires),
    }
    data = Written.model_validate(api.post(f"/api/secrets/{env}/{name}", body))
    console.print(f"{env}/{name}: version {data.version} written")


@secrets_app.command("get")
def get_secret(
    env: EnvArg,
    name: NameArg,
    version: Annotated[int | None, typer.Option(help="An older version.")] = None,
) -> None:
    """Print a secret's value on stdout (the read is audited)."""
    from shipyard.schemas.secrets import SecretValue

    data = SecretValue.model_validate(client().get(f"/api/secrets/{env}/{name}", version=version))
    sys.stdout.write(data.value + ("\n" if sys.stdout.isatty() else ""))


@secrets_app.command("list")
def list_secrets(env: EnvArg) -> None:
    """Names, versions, who wrote them and rotation dates; values are never shown."""
    from rich.table import Column, Table

    from shipyard.schemas.secrets import SecretList

    table = Table(Column("name", no_wrap=True), "version", "updated", "rotate", "due", "state")
    for s in SecretList.model_validate(client().get(f"/api/secrets/{env}")).secrets:
        rotate = f"{s.rotate_every / 86400:g}d" if s.rotate_every else "-"
        state = f"deleted, purge {_when(s.purge_at)}" if s.deleted_at else "live"
        updated = f"{_when(s.updated_at)} {s.updated_by}"
        table.add_row(s.name, str(s.version), updated, rotate, _when(s.due_at), state)
    console.print(table)


@secrets_app.command()
def history(env: EnvArg, name: NameArg) -> None:
    """The versions kept of a secret: when and by whom each was written."""
    from rich.table import Table

    from shipyard.schemas.secrets import History

    data = History.model_validate(client().get(f"/api/secrets/{env}/{name}/history"))
    table = Table("version", "written", "by")
    for v in data.versions:
        mark = " (current)" if v.version == data.version else ""
        table.add_row(f"{v.version}{mark}", _when(v.created_at), v.created_by)
    console.print(table)


@secrets_app.command()
def delete(env: EnvArg, name: NameArg) -> None:
    """Soft-delete a secret: no longer given to the app, recoverable until its purge date."""
    from shipyard.schemas.secrets import Written

    data = Written.model_validate(client().post(f"/api/secrets/{env}/{name}/delete"))
    console.print(f"{env}/{name} deleted; `shipyard secrets recover {env} {name}` undoes it")
    if data.deleted_at:
        console.print("new instances no longer get it; running ones keep it until they restart")


@secrets_app.command()
def recover(env: EnvArg, name: NameArg) -> None:
    """Bring back a deleted secret with all its versions."""
    from shipyard.schemas.secrets import Written

    data = Written.model_validate(client().post(f"/api/secrets/{env}/{name}/recover"))
    console.print(f"{env}/{name} recovered at version {data.version}")


@secrets_app.command()
def purge(
    env: EnvArg,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Destroy a deleted secret and every version of it, for good (admin only)."""
    if not yes:
        typer.confirm(f"destroy {env}/{name} and all its versions? this cannot be undone", abort=True)
    from shipyard.schemas.secrets import Purged

    data = Purged.model_validate(client().post(f"/api/secrets/{env}/{name}/purge"))
    console.print(f"{env}/{name} purged ({data.versions_destroyed} versions destroyed)")


@secrets_app.command()
def due(
    within: Annotated[str | None, typer.Option(help="Window, default vault.due_within (30d).")] = None,
) -> None:
    """Secrets overdue for rotation or expiry, or due within the window, in every environment."""
    from shipyard.schemas.secrets import DueList

    rows = DueList.model_validate(client().get("/api/vault/due", within=_seconds(within, "--within"))).secrets
    if not rows:
        console.print("nothing is due")
        return
    from rich.table import Table

    table = Table("env", "name", "state", "due", "updated", "by")
    for s in rows:
        when, updated = _when(s.due_at), _when(s.updated_at)
        table.add_row(s.env, s.name, s.state, when, updated, s.updated_by)
    console.print(table)


@secrets_app.command("import")
def import_file(
    env: EnvArg,
    file: Annotated[Path, typer.Argument(help="A .env file, or a SOPS-encrypted YAML/JSON/.env file.")],
    overwrite: Annotated[bool, typer.Option(help="Write new versions of secrets that exist.")] = False,
    age_key: Annotated[
        Path | None, typer.Option(help="age identity file for SOPS files; default: where sops looks.")
    ] = None,
) -> None:
    """Import secrets from a .env file or a SOPS file (age keys), all or none."""
    try:
        check_import_file(str(file), file.stat().st_size)  # before reading it all
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultError(f"cannot read {file} ({type(exc).__name__})", "check the path") from None
    if _is_sops(text):
        from shipyard.drivers.trust.sops import import_sops_file, read_age_identities

        values = import_sops_file(file, read_age_identities(age_key))
    else:
        values = parse_dotenv(text, str(file))
    if not values:
        raise VaultError(f"{file} holds no KEY=value line", "nothing was imported")
    from shipyard.schemas.secrets import Imported

    data = Imported.model_validate(
        client().post(f"/api/vault/{env}/import", {"values": values, "overwrite": overwrite})
    )
    console.print(f"{env}: {len(data.secrets)} secrets imported ({', '.join(sorted(values))})")


@secrets_app.command()
def export(
    env: EnvArg,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file (0600).")] = None,
) -> None:
    """Export an environment's secrets as a .env file (the read is audited)."""
    from shipyard.schemas.secrets import Exported

    text = render_dotenv(Exported.model_validate(client().get(f"/api/vault/{env}/export")).values)
    if output is None:
        sys.stdout.write(text)
        return
    write_atomic(output, text, mode=0o600)
    err.print(f"wrote {output} (0600)")


@secrets_app.command("rotate-key")
def rotate_key() -> None:
    """Replace the vault's master key: every data key is re-wrapped, no value is touched."""
    from shipyard.schemas.secrets import KeyRotated

    data = KeyRotated.model_validate(client().post("/api/vault/rotate-key"))
    envs = ", ".join(data.environments) or "no environment yet"
    console.print(f"master key rotated to {data.key_id}; re-wrapped: {envs}")


def _is_sops(text: str) -> bool:
    return any(marker in text for marker in ("sops_mac=", '"sops":', "\nsops:", "sops_version="))
