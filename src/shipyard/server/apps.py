"""API routes of the apps one control plane serves (``register_apps``; ``shipyard apps``).

Admin on every environment only: an app brings its own processes, ports and host names, so
adding or removing one is as much the control plane's business as its users are. Mutations are
audited before they act. Only the primary control plane holds the apps (``app.state.apps``, set
by ``runtime.serve``); a registered app's own API answers 404 here.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from shipyard.engine.apps.service import Apps
from shipyard.engine.engine import Engine
from shipyard.errors import NotFoundError
from shipyard.schemas import apps as a
from shipyard.server.auth import Who, act, client_source
from shipyard.server.params import EnvPath


def register_apps(app: FastAPI, engine: Engine) -> None:
    def hosted(request: Request) -> Apps:
        apps: Apps | None = getattr(request.app.state, "apps", None)
        if apps is None:
            raise NotFoundError(
                "this API serves one app; apps are listed by the primary control plane",
                "run `shipyard apps` in the folder of the app `shipyard up` started from",
            )
        return apps

    @app.get("/api/apps")
    def apps_list(request: Request, who: Who) -> a.Apps:
        engine.access.allow(who, "admin", "apps.list", source=client_source(request))
        return a.Apps(apps=[a.App.model_validate(row) for row in hosted(request).listing()])

    @app.post("/api/apps")
    def apps_add(body: a.AppBody, request: Request, who: Who) -> a.App:
        run = lambda: hosted(request).add(body.name, body.path)  # noqa: E731
        return a.App.model_validate(act(request, who, "admin", "apps.add", None, body.name, run))

    @app.post("/api/apps/{name}/remove")
    def apps_remove(name: EnvPath, request: Request, who: Who, force: bool = False) -> a.App:
        run = lambda: hosted(request).remove(name, force)  # noqa: E731
        target = f"{name} (force)" if force else name
        return a.App.model_validate(act(request, who, "admin", "apps.remove", None, target, run))
