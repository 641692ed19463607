"""``shipyard logs``: search, follow and export an environment's logs from the central store.

A thin edge over ``/api/logs/<env>``. ``shipyard logs ENV`` is short for
``shipyard logs search ENV``; ``-f`` keeps asking for lines after the last cursor.
``shipyard logs export`` writes JSON lines on stdout, for a file or another tool.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from shipyard.cli.session import client

FOLLOW_EVERY_S = 0.5
LEVEL_STYLE = {"warn": "yellow", "error": "red", "fatal": "bold red", "debug": "dim", "trace": "dim"}


class _SearchByDefault(TyperGroup):
    """``shipyard logs ENV ...`` runs ``shipyard logs search ENV ...``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["search", *args]
        return super().parse_args(ctx, args)


logs_app = typer.Typer(
    cls=_SearchByDefault,
    no_args_is_help=True,
    help="Search, follow and export the central logs of an environment.\n\n"
    "`shipyard logs ENV [--since 10m] [--level warn] [--grep TEXT] [--release r3] [-f]` is short for "
    "`shipyard logs search ENV ...`; `shipyard logs export ENV > logs.jsonl` writes JSON lines. "
    "The logs hold each instance's stdout and stderr and HAProxy's access log; lines older than "
    "`logs.hot` are only in the cold archives that export reads.",
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EnvArg = Annotated[str, typer.Argument(help="Environment.")]
SinceOpt = Annotated[
    str | None, typer.Option(help="Only lines from this age (10m, 2h, 7d) or time (2026-11-30T12:00) on.")
]
UntilOpt = Annotated[str | None, typer.Option(help="Only lines before this age or time.")]
LevelOpt = Annotated[
    str | None, typer.Option(help="Only this level and above: trace, debug, info, warn, error, fatal.")
]
GrepOpt = Annotated[
    str | None,
    typer.Option(help="Only lines containing this text (any case), found by a full-text index of words."),
]
ReleaseOpt = Annotated[str | None, typer.Option(help="Only lines of this release (r3).")]


def _filters(**given: str | None) -> dict[str, str]:
    return {k: v for k, v in given.items() if v}


def _print(line: dict[str, Any]) -> None:
    millis = int(line["at"] * 1000) % 1000
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(line["at"])) + f".{millis:03d}"
    style = LEVEL_STYLE.get(line["level"], "")
    level = f"[{style}]{line['level']:<5}[/]" if style else f"{line['level']:<5}"
    where = f"{line['instance'] or '-'} {line['release'] or '-'} {line['stream']}"
    fields = ""
    if line.get("fields"):
        fields = " " + " ".join(f"{k}={v}" for k, v in line["fields"].items())
    console.print(f"[dim]{when} {where}[/] {level} {escape(line['message'] + fields)}", highlight=False)


@logs_app.command()
def search(
    env: EnvArg,
    since: SinceOpt = None,
    until: UntilOpt = None,
    level: LevelOpt = None,
    grep: GrepOpt = None,
    release: ReleaseOpt = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many newest matches to show.")] = 200,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new matching lines.")] = False,
) -> None:
    """The newest matching lines of the environment (instances' stdout/stderr, HAProxy's access log)."""
    api = client()
    query = _filters(since=since, until=until, level=level, grep=grep, release=release)
    data = api.get(f"/api/logs/{env}", limit=lines, **query)
    for line in data["lines"]:
        _print(line)
    cursor = data["cursor"]
    while follow:
        time.sleep(FOLLOW_EVERY_S)
        data = api.get(f"/api/logs/{env}", limit=1000, after=cursor, **query)
        for line in data["lines"]:
            _print(line)
        cursor = data["cursor"]


@logs_app.command()
def export(
    env: EnvArg,
    since: SinceOpt = None,
    until: UntilOpt = None,
    level: LevelOpt = None,
    grep: GrepOpt = None,
    release: ReleaseOpt = None,
) -> None:
    """Every matching line as JSON lines on stdout, cold archives included (`> logs.jsonl`)."""
    query = _filters(since=since, until=until, level=level, grep=grep, release=release)
    out = sys.stdout.buffer
    for chunk in client().stream(f"/api/logs/{env}/export", **query):
        out.write(chunk)
    out.flush()


@logs_app.command()
def stats() -> None:
    """The central log store: lines, size, cold archives, lines archived or dropped, last errors."""
    from shipyard.schemas.observe import LogStats

    data = LogStats.model_validate(client().get("/api/logs"))
    limit = f" of {data.max_bytes / 1e6:,.0f} MB" if data.max_bytes else ""
    console.print(
        f"{data.lines:,} lines, {data.bytes / 1e6:,.1f} MB{limit}; {data.archives} cold archive(s); "
        f"since start: {data.ingested:,} stored, {data.archived:,} archived, "
        f"{data.dropped_old:,} old lines and {data.dropped_access:,} access lines dropped, "
        f"{data.full} time(s) full",
        highlight=False,
    )
    for line in data.errors:
        err.print(f"[yellow]logs:[/] {escape(line)}", highlight=False)
