"""``environments.<name>.verify``: checks run against an environment after a deployment to it.

Smoke paths, a short load test with ``wrk`` (a rate to sustain and a p95 to stay under) and a
custom command, run by ``engine/pipeline/verify.py`` once the new release serves; a release
is promoted onward only from an environment where they passed.
"""

from __future__ import annotations

from pydantic import Field

from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration, HttpPath

MAX_LOAD_SECONDS = 60.0


class LoadTest(Model):
    path: HttpPath = Field("/", description="Path requested, on the environment's port at 127.0.0.1.")
    duration: Duration = Field(
        5.0, gt=0, le=MAX_LOAD_SECONDS, description="How long wrk sends requests (at most 60s)."
    )
    connections: int = Field(8, ge=1, le=256, description="Connections wrk keeps open.")
    rate: float = Field(
        0, ge=0, description="Lowest rate (requests a second) the environment must sustain; 0: any."
    )
    p95: Duration = Field(gt=0, description="Highest 95th percentile latency, e.g. `300ms`.")


class Verify(Model):
    smoke: tuple[HttpPath, ...] = Field(
        (), description="Paths that must answer 200 through the environment's port."
    )
    load: LoadTest | None = Field(None, description="A short load test with wrk.")
    command: str | None = Field(
        None, min_length=1, description="Shell command (in the release, `SHIPYARD_URL` set) that must exit 0."
    )
    timeout: Duration = Field(120.0, gt=0, description="Longest the custom command may take.")
