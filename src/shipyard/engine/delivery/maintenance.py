"""The maintenance page: ``shipyard maintenance on|off`` and the page around a migration.

Built once by the composition root; the API's maintenance routes (``server/maintenance.py``) and
the migrations (``engine/data/migrations.py``, with ``database.migrate.maintenance: true``) call
it. The page's state is written to the store first, then HAProxy is synced (its runtime API
switches the page without a reload; ``core/proxy_edge.py``), so a restarted control plane puts
the same page back (``Context.sync_proxy`` reads the store).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shipyard.core.edge import DEFAULT_MESSAGE, MAX_NETWORKS, Maintenance, check_message, parse_network
from shipyard.engine.context import Context
from shipyard.errors import InputError, NotFoundError


class MaintenanceSwitch:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def on(
        self, env: str, by: str, message: str | None = None, allow: list[str] | None = None
    ) -> dict[str, Any]:
        """Turn ``env``'s page on (or change its message and networks); HAProxy answers 503."""
        self._known(env)
        page = Maintenance(_message(message), _networks(allow or []), time.time(), by)
        self.ctx.store.maintenance.put(env, page)
        self.ctx.sync_proxy()
        return self.describe(env)

    def off(self, env: str) -> dict[str, Any]:
        """Turn ``env``'s page off: requests reach the app again."""
        self._known(env)
        self.ctx.store.maintenance.remove(env)
        self.ctx.sync_proxy()
        return self.describe(env)

    def describe(self, env: str) -> dict[str, Any]:
        page = self.ctx.store.maintenance.all().get(env)
        if page is None:
            return {"env": env, "on": False, "message": "", "allow": [], "since": None, "by": ""}
        return {
            "env": env,
            "on": True,
            "message": page.message,
            "allow": list(page.allow),
            "since": page.since,
            "by": page.by,
        }

    @contextmanager
    def during(self, env: str, why: str) -> Iterator[None]:
        """The page on while the block runs, and off after it, whether it failed or not; a page
        someone turned on by hand stays on."""
        if env in self.ctx.store.maintenance.all():
            yield
            return
        self.on(env, by=why)
        try:
            yield
        finally:
            self.off(env)

    def _known(self, env: str) -> None:
        if env not in self.ctx.manifest.environments:
            raise NotFoundError(
                f"unknown environment {env[:40]!r}",
                f"use one of: {', '.join(sorted(self.ctx.manifest.environments))}",
            )


def _message(message: str | None) -> str:
    try:
        return check_message(message if message is not None else DEFAULT_MESSAGE)
    except ValueError as exc:
        raise InputError(
            f"--message: {exc}", "write one line of plain text, such as 'Back at 14:00'"
        ) from None


def _networks(allow: list[str]) -> tuple[str, ...]:
    if len(allow) > MAX_NETWORKS:
        raise InputError(
            f"--allow: {len(allow)} networks, more than {MAX_NETWORKS}", "allow fewer, wider networks"
        )
    out = []
    for net in allow:
        try:
            out.append(parse_network(net))
        except ValueError as exc:
            raise InputError(
                f"--allow: {exc}", "write a network as 10.0.0.0/8 or one address as 192.168.1.7"
            ) from None
    return tuple(out)
