"""The apps' bodies and answers (``server/apps.py``; ``shipyard apps add|list|remove``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shipyard.schemas.common import ENV_PATTERN, Answer, Body

AppName = Annotated[str, Field(pattern=ENV_PATTERN, description="an app's name")]


class AppBody(Body):
    name: AppName
    path: Annotated[str, Field(min_length=1, max_length=4000, description="the app's folder, absolute")]


class App(Answer):
    """A served app: its folder, environments, host names, the ones in traffic, and its state
    (primary, serving, idle, removed, or ``failed: why`` when it did not open at start)."""

    name: str
    path: str
    environments: list[str]
    domains: list[str]
    serving: list[str]
    state: str


class Apps(Answer):
    apps: list[App]
