"""One port for several apps' APIs: ``/apps/NAME/...`` goes to app NAME's own API (its own
gate, users and tokens), everything else to the primary's.

Built by ``runtime.serve``; ``engine/apps/service.py`` mounts and unmounts apps at run time
through the composition root. The path a mounted API sees has its ``/apps/NAME`` prefix taken off
(and put in ``root_path``), so its routes and its gate read the same paths as at ``/``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class AppsMux:
    def __init__(self, primary: ASGIApp) -> None:
        self.primary = primary
        self.apps: dict[str, ASGIApp] = {}

    def mount(self, name: str, app: ASGIApp) -> None:
        self.apps = {**self.apps, name: app}  # a new dict: a request in flight keeps its own

    def unmount(self, name: str) -> None:
        self.apps = {n: a for n, a in self.apps.items() if n != name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            _, first, name, *_ = (*path.split("/", 3), "", "")
            target = self.apps.get(name) if first == "apps" else None
            if target is not None:
                prefix = f"/apps/{name}"
                rest = path[len(prefix) :] or "/"
                raw = scope.get("raw_path")
                inner = {
                    **scope,
                    "path": rest,
                    "raw_path": raw[len(prefix) :] or b"/" if isinstance(raw, bytes) else raw,
                    "root_path": scope.get("root_path", "") + prefix,
                }
                await target(inner, receive, send)
                return
        await self.primary(scope, receive, send)
