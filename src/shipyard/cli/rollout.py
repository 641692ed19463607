"""``shipyard rollout ...``: watch a progressive rollout and act on it (promote, pause, abort...).

A thin edge over ``/api/rollouts``; the figures come from the control plane,
which takes them from HAProxy's per-request log lines.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group

from shipyard.cli.session import client

rollout_app = typer.Typer(no_args_is_help=True, help="Watch and steer progressive rollouts.")
console = Console(soft_wrap=True)
EnvArg = Annotated[str, typer.Argument(help="Environment.")]


def figures_line(row: dict[str, Any]) -> str:
    """One version's figures: requests, rate, error rate, p50/p95/p99."""
    rate = f"{row['errors'] / row['requests'] * 100:.2f}%" if row["requests"] else "n/a"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    return (
        f"{row['release_id'] or '?'}: {row['requests']} req {row['rps']:.0f}/s 5xx {rate} "
        f"p50/p95/p99 {ms(row['p50_ms'])}/{ms(row['p95_ms'])}/{ms(row['p99_ms'])} ms"
    )


def sample_line(canary: dict[str, Any], stable: dict[str, Any]) -> str:
    return f"{canary['weight']:>3}% new {figures_line(canary)} | old {figures_line(stable)}"


def _table(data: dict[str, Any]) -> Group:
    ro = data["rollout"]
    dep = data["deployment"]
    head = (
        f"deployment #{dep['id']} {dep['release_id']} ({ro['strategy']}): [bold]{ro['phase']}[/]"
        f"{' (' + ro['paused_by'] + ')' if ro['paused_by'] else ''} at {ro['weight']}%, "
        f"failed checks {ro['failures']}"
    )
    parts: list[Any] = [head]
    parts += [f"  plan: {line}" for line in (ro.get("plan") or {}).get("lines", [])]
    if ro.get("reason"):
        parts.append(f"  [red]{ro['reason']}[/]")
    from rich.table import Table

    table = Table("version", "weight", "requests", "req/s", "5xx", "p50 ms", "p95 ms", "p99 ms")
    for role in ("canary", "stable"):
        row = data["latest"].get(role)
        if row:
            rate = f"{row['errors'] / row['requests'] * 100:.2f}%" if row["requests"] else "n/a"
            weight = row["weight"] if role == "canary" else 100 - row["weight"]
            table.add_row(
                f"{'new' if role == 'canary' else 'old'} {row['release_id']}",
                f"{weight}%",
                str(row["requests"]),
                f"{row['rps']:.0f}",
                rate,
                *("-" if row[k] is None else f"{row[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")),
            )
    parts.append(table)
    for check in data["checks"][-5:]:
        parts.append(f"  check at {check['weight']}%: {check['result']}: {check['summary']}")
    return Group(*parts)


@rollout_app.command("status")
def status(
    env: EnvArg = "dev",
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until the rollout ends.")] = False,
) -> None:
    """The last rollout: phase, weight, each version's figures and the checks."""
    api = client()
    data = api.get(f"/api/rollouts/{env}")
    if not watch:
        console.print(_table(data))
        return
    from rich.live import Live

    with Live(_table(data), console=console, refresh_per_second=4) as live:
        while data["running"]:
            time.sleep(1)
            data = api.get(f"/api/rollouts/{env}")
            live.update(_table(data))


def _verb(env: str, verb: str) -> None:
    from shipyard.schemas.deployments import VerbDone

    data = VerbDone.model_validate(client().post(f"/api/rollouts/{env}/{verb}"))
    paused = f" ({data.paused_by})" if data.paused_by else ""
    console.print(f"{verb}: rollout in {env} is {data.phase}{paused} at {data.weight}%")


@rollout_app.command()
def promote(
    env: EnvArg = "dev",
    full: Annotated[bool, typer.Option("--full", help="Go straight to 100%.")] = False,
) -> None:
    """Move to the next step now (or to 100% with --full)."""
    _verb(env, "promote-full" if full else "promote")


@rollout_app.command()
def pause(env: EnvArg = "dev") -> None:
    """Hold the current weight (checks still guard it and may roll back)."""
    _verb(env, "pause")


@rollout_app.command()
def resume(env: EnvArg = "dev") -> None:
    """Continue a paused rollout."""
    _verb(env, "resume")


@rollout_app.command()
def abort(env: EnvArg = "dev") -> None:
    """Return all traffic to the stable version at once and stop the new one."""
    _verb(env, "abort")


@rollout_app.command()
def retry(env: EnvArg = "dev") -> None:
    """Run the last aborted, rolled back or failed rollout again (same release)."""
    from shipyard.schemas.deployments import Started

    data = Started.model_validate(client().post(f"/api/rollouts/{env}/retry"))
    console.print(
        f"deployment {data.deployment} to {env} (retry); follow it with `shipyard rollout status {env} -w`"
    )
