"""Post-deploy verification, pure: wrk's figures judged, and whether a release may leave an
environment whose verification it has not passed.

``engine/pipeline/verify.py`` runs the checks and records them as the deployment's ``verify``
step; ``Engine.promote`` asks ``check_verified`` before promoting from that environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from shipyard.errors import ConflictError

# wrk's Lua hook: one JSON line of the figures (wrk prints no p95 of its own)
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nSHIPYARD {"requests": %d, "errors": %d, "seconds": %f, "p95_ms": %f}\\n',
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout,
    summary.duration / 1e6, latency:percentile(95) / 1e3))
end
"""
MARK = "SHIPYARD "


@dataclass(frozen=True)
class LoadFigures:
    requests: int
    errors: int  # connection errors, timeouts and answers other than 2xx/3xx
    seconds: float
    p95_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class LoadSpec(Protocol):
    @property
    def rate(self) -> float: ...
    @property
    def p95(self) -> float: ...


def read_wrk(output: str) -> LoadFigures:
    """The figures ``WRK_SCRIPT`` printed; ``ValueError`` when it printed none."""
    line = next((x for x in output.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise ValueError("wrk printed no figures")
    data = json.loads(line.removeprefix(MARK))
    return LoadFigures(
        int(data["requests"]), int(data["errors"]), float(data["seconds"]), float(data["p95_ms"])
    )


def judge_load(figures: LoadFigures, spec: LoadSpec) -> str | None:
    """Why the load test failed, or None when it passed."""
    if figures.requests == 0 or figures.errors:
        return f"{figures.errors} of {figures.requests} requests failed"
    if figures.p95_ms > spec.p95 * 1000:
        return f"p95 {figures.p95_ms:.1f}ms is above {spec.p95 * 1000:g}ms"
    if figures.rate < spec.rate:
        return f"{figures.rate:.0f} requests/s is below the rate {spec.rate:g}/s"
    return None


@dataclass(frozen=True)
class Verified:
    """A deployment of the release in the environment before, and its ``verify`` step."""

    deployment: int
    status: str | None  # ok, failed, or None when the step never ran
    detail: str


def check_verified(release: str, before: str, found: Verified | None) -> None:
    """Refuse promoting ``release`` from ``before`` unless its verification there passed."""
    hint = (
        f"deploy a release to {before} that passes environments.{before}.verify "
        f"(`shipyard deployments show ID` shows the verify step), then promote it"
    )
    if found is None:
        raise ConflictError(
            f"release {release} has not been deployed to {before}, where it is verified", hint
        )
    if found.status != "ok":
        said = found.detail if found.status else "it did not run"
        raise ConflictError(
            f"release {release} did not pass {before}'s post-deploy verification "
            f"(deployment {found.deployment}: {said})",
            hint,
        )
