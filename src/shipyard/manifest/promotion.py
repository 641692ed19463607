"""The promotion path and approvals in shipyard.yaml.

``promotion`` orders the environments a release goes through (dev -> test ->
staging -> production); ``environments.<name>.approval`` makes deployments
there wait for a second person. The rules that use them are pure functions in
``core/promotion.py`` and ``core/approval.py``.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import Field, model_validator

from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration


class Approval(Model):
    required: bool = Field(
        True, description="Deployments here wait for an approver other than the requester."
    )
    expires: Duration = Field(
        86400.0, gt=0, description="A request nobody approved within this ends `expired`."
    )


class Promotion(Model):
    path: tuple[str, ...] = Field(
        description="Environments in the order a release goes through them, e.g. [dev, test, production]."
    )
    require_previous: bool = Field(
        True,
        description="`shipyard promote` to an environment needs the release to have succeeded in the "
        "environment before it on the path.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            return {"path": data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Promotion:
        if len(self.path) < 2:
            raise ValueError("path needs at least two environments, such as [staging, production]")
        for i, name in enumerate(self.path):
            if name in self.path[:i]:
                raise ValueError(f"path[{i}]: {name!r} is on the path twice; list each environment once")
        return self


def check_path(promotion: Promotion | None, environments: dict[str, Any]) -> None:
    """Every environment on the path must be declared (called by ``Manifest``'s validation)."""
    if promotion is None:
        return
    for i, name in enumerate(promotion.path):
        if name not in environments:
            guess = difflib.get_close_matches(name, list(environments), n=1, cutoff=0.6)
            raise ValueError(
                f"promotion.path[{i}]: {name!r} is not an environment of this file "
                f"(declared: {', '.join(environments)})" + (f"; did you mean {guess[0]!r}?" if guess else "")
            )
