"""``shipyard deploy`` and ``shipyard rollback``: ask the control plane, then follow the steps.

The Typer commands (``main.py``) and the fast entry point (``hot.py``) both run these. The
request goes out first; Rich and the follow loop are loaded while the server acts on it.
"""

from __future__ import annotations

from typing import Any

from shipyard.cli.session import Api, console
from shipyard.errors import ShipyardError


def deploy(api: Api, env: str, release: str | None, wait: bool) -> None:
    dep = api.post("/api/deploy", {"env": env, "release": release})["deployment"]
    console().print(f"deployment {dep} to {env}")
    if wait:
        from shipyard.cli.follow import follow

        finish(follow(api, dep, console()), f"deployment {dep}")


def rollback(api: Api, env: str, to: str | None) -> None:
    dep = api.post("/api/rollback", {"env": env, "to": to})["deployment"]
    from shipyard.cli.follow import follow

    finish(follow(api, dep, console()), f"rollback {dep}")


def finish(result: dict[str, Any], what: str) -> None:
    """Raise if the deployment did not succeed; else say which release serves."""
    if result["status"] != "succeeded":
        raise ShipyardError(
            f"{what} {result['status']}: {result['error']}",
            result.get("hint") or "see `shipyard deployments`",
        )
    console().print(f"[green]{what} succeeded[/]: {result['release']} is serving")
