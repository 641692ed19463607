"""Triggers' bodies and answers (``server/triggers.py``; ``shipyard git receive``).

A push to the hosted repository is ``PushBody`` (its branch and commit); a host's push event
is answered ``HookAnswer``: the job that builds it, or why it starts nothing (a ping, a tag).
"""

from __future__ import annotations

from pydantic import Field

from shipyard.core.triggers.branches import BRANCH, SHA
from shipyard.schemas.common import Body, Ok
from shipyard.schemas.data import Job


class PushBody(Body):
    branch: str = Field(pattern=BRANCH.pattern, description="The pushed branch, such as main.")
    sha: str = Field(pattern=SHA.pattern, description="The pushed commit's full id.")


class HookAnswer(Ok):
    job: Job | None = None  # the build of the pushed commit, followed at /api/jobs/{id}
    ignored: str | None = None  # why the event starts nothing
