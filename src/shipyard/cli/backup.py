"""``shipyard backup ...`` and ``shipyard migrate ...``: the database's backups and migrations.

A thin edge over ``/api/backups`` and ``/api/migrations``; the control plane does the
work (and audits it). A backup, a verification, a restore and ``migrate up|down`` run as jobs,
followed until they end (``cli/jobs.py``: progress on stderr, Ctrl-C detaches).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.jobs import run_job
from shipyard.cli.session import client
from shipyard.errors import BackupError

if TYPE_CHECKING:
    from shipyard.schemas.data import Backup

backup_app = typer.Typer(no_args_is_help=True, help="Back up, verify and restore an environment's database.")
migrate_app = typer.Typer(no_args_is_help=True, help="Run the app's database migrations.")
console = Console(soft_wrap=True)
EnvArg = Annotated[str, typer.Argument(help="Environment.")]
BackupOpt = Annotated[str | None, typer.Option("--backup", help="Backup id; default: the newest good one.")]


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _line(b: Backup) -> str:
    return (
        f"{b.id} ({b.kind}): {_size(b.size)} stored from {_size(b.source_bytes)} "
        f"in {b.duration_s:.2f}s, sha256 {b.checksum[:12]}"
    )


@backup_app.command("create")
def create(
    env: EnvArg = "dev", reason: Annotated[str, typer.Option(help="Why (kept in the catalog).")] = ""
) -> None:
    """Take a consistent online backup now (compressed, encrypted, checksummed)."""
    from shipyard.schemas.data import BackupDone

    done = BackupDone.model_validate(run_job(f"/api/backups/{env}", {"reason": reason}))
    console.print(f"[green]backup[/] {_line(done.backup)}", highlight=False)


@backup_app.command("list")
def list_(env: EnvArg = "dev") -> None:
    """The catalog: every backup with its size, duration, checksum and last verification."""
    from shipyard.schemas.data import Catalog

    catalog = Catalog.model_validate(client().get(f"/api/backups/{env}"))
    shipping = catalog.continuous
    if shipping:
        lag = time.time() - shipping.last_shipped_at if shipping.last_shipped_at else None
        state = f"shipping onto {shipping.base}" if shipping.base else "waiting for the database"
        console.print(
            f"continuous: {state}" + (f", last shipped {lag:.1f}s ago" if lag is not None else ""),
            highlight=False,
        )
        for line in shipping.errors:
            console.print(f"[yellow]continuous:[/] {escape(line)}", highlight=False)
    if not catalog.backups:
        console.print(f"no backups of {env} yet; take one with `shipyard backup create {env}`")
    for b in catalog.backups:
        check = b.verification
        verified = (
            "not verified"
            if check is None
            else ("verified" if check.ok else "[red]FAILED verification[/]")
            + f" {_when(check.at)} (restore {check.restore_s:.2f}s)"
        )
        if b.status != "complete":
            console.print(
                f"[red]{b.id} ({b.kind}) failed[/] {_when(b.started_at)}: {escape(b.error)}",
                highlight=False,
            )
            continue
        window = (
            f"; recoverable {_when(b.recoverable_from)} to {_when(b.recoverable_to)}"
            if b.kind == "continuous"
            else ""
        )
        console.print(f"{_when(b.started_at)} {_line(b)}{window}; {verified}", highlight=False)


@backup_app.command("verify")
def verify(env: EnvArg = "dev", backup: BackupOpt = None) -> None:
    """Restore a backup into a scratch folder, check checksums and integrity, time it."""
    from shipyard.schemas.data import BackupDone

    b = BackupDone.model_validate(run_job(f"/api/backups/{env}/verify", {"backup": backup})).backup
    check = b.verification
    if check is None or not check.ok:
        detail = check.detail if check else "no verification was recorded"
        raise BackupError(f"backup {b.id} failed verification: {detail}", "restore an older backup")
    console.print(
        f"[green]verified[/] {b.id}: {escape(check.detail)}; restore took {check.restore_s:.2f}s",
        highlight=False,
    )


def parse_time(text: str) -> float:
    """``2026-12-01T13:55:00Z`` (ISO 8601; UTC when no offset is given) or epoch seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BackupError(
            f"--to-time {text!r} is not a time", "write it as 2026-12-01T13:55:00Z (UTC) or epoch seconds"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@backup_app.command("restore")
def restore(
    env: EnvArg = "dev",
    backup: BackupOpt = None,
    target: Annotated[str | None, typer.Option(help="Restore into this environment instead.")] = None,
    to_time: Annotated[
        str | None,
        typer.Option(
            "--to-time",
            help="Point in time (ISO 8601, UTC by default) of a continuous backup; `now` or a time "
            "at or after its window's end: the end. Default: the newest point shipped.",
        ),
    ] = None,
    mask: Annotated[
        bool, typer.Option("--mask", help="With --target: apply database.masking to the copy first.")
    ] = False,
) -> None:
    """Replace the database with a backup (a safety backup of it is taken first)."""
    when = parse_time(to_time) if to_time and to_time != "now" else None  # now: the newest point shipped
    body = {"backup": backup, "target": target, "to_time": when}
    if mask:
        body["mask"] = True
    from shipyard.schemas.data import Restored

    done = Restored.model_validate(run_job(f"/api/backups/{env}/restore", body))
    for column in done.masked:
        console.print(f"masked {escape(column)}", highlight=False)
    if done.unmasked:
        console.print(
            f"[yellow]warning:[/] kept as they are (no masking rule): {escape(', '.join(done.unmasked))}",
            highlight=False,
        )
    unreadable = "none (skipped: the database was unreadable)" if done.kept_aside else ""
    safety = done.safety_backup or unreadable or "none (no database yet)"
    point = f" as of {_when(done.to_time)}" if done.to_time else ""
    console.print(
        f"[green]restored[/] {done.restored}{point} into {done.target} "
        f"(deployment {done.deployment}); safety backup: {safety}",
        highlight=False,
    )
    if done.point:
        console.print(escape(done.point.said), highlight=False)
    if done.kept_aside:
        console.print(
            f"[yellow]kept aside:[/] the broken database, {escape(done.kept_aside)}", highlight=False
        )


@migrate_app.command("status")
def migrate_status(env: EnvArg = "dev") -> None:
    """Run the serving release's migrate.status command and show its output."""
    from shipyard.schemas.data import MigrationStatus

    found = MigrationStatus.model_validate(client().post(f"/api/migrations/{env}/status"))
    console.print(f"{found.release}: exit {found.code}", highlight=False)
    console.print(escape(found.output), highlight=False)


@migrate_app.command("plan")
def migrate_plan(
    env: EnvArg = "dev",
    release: Annotated[
        str | None,
        typer.Option(
            help="Release whose migrations to plan: the serving one or one that passed the environment "
            "before ENV on the promotion path; default the newest of those."
        ),
    ] = None,
) -> None:
    """Show the SQL that a release's pending migrations would run on ENV, without running it."""
    from shipyard.schemas.data import MigrationPlan

    plan = MigrationPlan.model_validate(client().post(f"/api/migrations/{env}/plan", {"release": release}))
    console.print(f"-- {plan.release} on {env}", highlight=False)
    console.print(escape(plan.output), highlight=False, end="")


def _migrate(env: str, direction: str) -> None:
    from shipyard.schemas.data import Migrated

    done = Migrated.model_validate(run_job(f"/api/migrations/{env}/{direction}"))
    console.print(escape(done.output), highlight=False)
    console.print(
        f"[green]migrate {direction} done[/] with {done.release} (deployment {done.deployment})",
        highlight=False,
    )


@migrate_app.command("up")
def migrate_up(env: EnvArg = "dev") -> None:
    """Back up, then apply pending migrations (restores the backup if they fail)."""
    _migrate(env, "up")


@migrate_app.command("down")
def migrate_down(env: EnvArg = "dev") -> None:
    """Back up, then revert the last migration (restores the backup if it fails)."""
    _migrate(env, "down")
