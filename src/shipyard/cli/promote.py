"""``shipyard promote|approve|reject|approvals``: move a release along the path, decide on requests.

A thin edge over ``/api/promote``, ``/api/deployments/{id}/approve|reject`` and
``/api/approvals``. ``promote`` follows the deployment like ``deploy`` does,
including while it waits for approval (Ctrl-C stops following; the request
stays waiting).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.follow import follow
from shipyard.cli.session import client
from shipyard.errors import ShipyardError

console = Console(soft_wrap=True)
DepArg = Annotated[int, typer.Argument(help="Deployment id (see `shipyard deployments`).")]


def promote(
    release: Annotated[
        str | None,
        typer.Argument(help="Release to promote; default: the one serving the previous environment."),
    ] = None,
    to: Annotated[str, typer.Option("--to", help="Environment to promote to.")] = "",
    wait: Annotated[bool, typer.Option(help="Follow the steps (and the wait for approval).")] = True,
) -> None:
    """Deploy the exact release that passed the previous environment of the promotion path."""
    if not to:
        raise ShipyardError("name the environment to promote to", "`shipyard promote [RELEASE] --to ENV`")
    from shipyard.schemas.delivery import Promoted

    api = client()
    data = Promoted.model_validate(api.post("/api/promote", {"to": to, "release": release}))
    dep = data.deployment
    waiting = data.status == "waiting_approval"
    console.print(f"deployment {dep} to {to}" + (": waiting for approval" if waiting else ""))
    if waiting:
        console.print(f"an approver of {to} (not you) runs `shipyard approve {dep}`", highlight=False)
    if wait:
        result = follow(api, dep, console)
        if result["status"] != "succeeded":
            raise ShipyardError(
                f"deployment {dep} {result['status']}: {result['error']}",
                result.get("hint") or "see `shipyard deployments`",
            )
        console.print(f"[green]deployment {dep} succeeded[/]: {result['release']} is serving {to}")


def approve(dep: DepArg) -> None:
    """Approve a deployment waiting for approval (not your own: four-eyes rule); it starts now."""
    client().post(f"/api/deployments/{dep}/approve")
    console.print(f"deployment {dep} approved; it is running (follow it with `shipyard deployments`)")


def reject(
    dep: DepArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded and shown to the requester).")],
) -> None:
    """Reject a deployment waiting for approval, with a reason."""
    client().post(f"/api/deployments/{dep}/reject", {"reason": reason})
    console.print(f"deployment {dep} rejected")


def approvals() -> None:
    """Deployments waiting for approval, with who asked and when the request expires."""
    rows = client().get("/api/approvals")
    if not rows:
        console.print("no deployment is waiting for approval")
    for row in rows:
        console.print(waiting_line(row), highlight=False)


def waiting_line(row: dict[str, Any]) -> str:
    left = max(0.0, row["expires_at"] - time.time())
    return (
        f"#{row['deployment_id']} {row['env']}: waiting for approval, requested by {row['requested_by']} "
        f"at {_when(row['requested_at'])}, expires in {left / 60:.0f} min "
        f"(`shipyard approve {row['deployment_id']}`)"
    )


def approval_line(dep: dict[str, Any]) -> str | None:
    """The approval part of a deployment in `shipyard deployments`, if it had one."""
    app = dep.get("approval")
    if not app:
        return None
    asked = f"requested by {app['requested_by']} at {_when(app['requested_at'])}"
    if app["decision"] is None:
        return f"approval: waiting; {asked}; expires at {_when(app['expires_at'])}"
    by = f" by {app['decided_by']}" if app["decided_by"] != "shipyard" else ""
    why = f": {escape(app['reason'])}" if app["reason"] else ""
    return f"approval: {asked}; {app['decision']}{by} at {_when(app['decided_at'])}{why}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
