"""One stage of a pipeline run: its commands, then its gates, its output into the central logs.

Called by ``runs.PipelineRun`` on a worker thread per stage. The commands run one after
another in the run's scratch folder through the ``Workbench`` (the release's virtualenv, the
variables ``stage_environment`` gives: never a secret), within the stage's ``timeout``; the
gates are judged even when a command failed, so a failing test run still says how many tests
failed. The stage's output goes to ``<home>/pipelines/logs/run-<id>/<stage>.log`` and, once it
ends, into the central log store as lines of the run's environment (instance
``pipeline-<run>-<stage>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shipyard.core.pipeline import gates as g
from shipyard.core.pipeline.plan import FAILED, PASSED
from shipyard.core.records import Release
from shipyard.drivers.pipeline.interface import Workbench
from shipyard.errors import ShipyardError
from shipyard.manifest.pipeline import Stage

MAX_LOG_LINES = 20_000  # lines of one stage stored in the central logs
TAIL_LINES = 40  # lines kept with the stage's result
NO_FIGURE = ("no report", "unreadable report")


class LineSink(Protocol):
    """Where a stage's output lines go (``LogService.add_lines``)."""

    def add_lines(self, env: str, release: str, instance: str, stream: str, lines: list[bytes]) -> None: ...


@dataclass
class StageResult:
    status: str
    detail: str
    gates: list[g.GateResult] = field(default_factory=list)
    output: str = ""

    def failure(self) -> str:
        """The first reason the stage failed, as one line: a gate's figure against its threshold
        when one was measured, else what stopped the commands."""
        measured = [r.message for r in self.gates if not r.ok and r.figure not in NO_FIGURE]
        return measured[0] if measured else self.detail


@dataclass(frozen=True)
class StageJob:
    run_id: int
    env: str
    name: str
    spec: Stage
    release: Release
    folder: Path
    log: Path
    variables: dict[str, str]


def run_stage(
    job: StageJob, bench: Workbench, sink: LineSink | None, say: Callable[[str], None]
) -> StageResult:
    started = time.monotonic()
    deadline = started + job.spec.timeout
    problem = _commands(job, bench, deadline)
    results = _gates(job, bench, deadline)
    took = time.monotonic() - started
    output = _store_output(job, sink)
    for result in results:
        say(f"  {result.gate}: {result.figure} {'ok' if result.ok else 'FAILED'}")
    if problem is not None or any(not r.ok for r in results):
        detail = problem or next(r.message for r in results if not r.ok)
        return StageResult(FAILED, detail, results, output)
    return StageResult(PASSED, f"{took:.1f}s", results, output)


def _commands(job: StageJob, bench: Workbench, deadline: float) -> str | None:
    """Run the commands until one fails; the failure as one line, or None."""
    for i, command in enumerate(job.spec.commands):
        left = deadline - time.monotonic()
        if left <= 0:
            return f"stage {job.name}: timed out before commands[{i}] (timeout {job.spec.timeout:g}s)"
        done = bench.run(command, job.folder, job.release, job.variables, job.log, left)
        if done.code is None:
            limit = f"{job.spec.timeout:g}s"
            return f"stage {job.name}: commands[{i}] `{command}` was stopped at the stage's timeout ({limit})"
        if done.code != 0:
            last = done.output.strip().splitlines()[-1] if done.output.strip() else ""
            return f"stage {job.name}: commands[{i}] `{command}` exited {done.code}" + (
                f": {last}" if last else ""
            )
    return None


def _judged(
    job: StageJob, bench: Workbench, gate: str, path: str, judge: Callable[[str | None], g.GateResult]
) -> g.GateResult:
    """Read ``path`` (None when missing) and judge it; a report that cannot be read fails the gate."""
    try:
        text = bench.read_report(job.folder, path)
    except ShipyardError as exc:
        return g.GateResult(
            job.name, gate, False, "unreadable report", f"stage {job.name}: {gate} gate: {exc.message}"
        )
    return judge(text)


def _gates(job: StageJob, bench: Workbench, deadline: float) -> list[g.GateResult]:
    spec, name = job.spec, job.name
    out: list[g.GateResult] = []
    if (cov := spec.coverage) is not None:
        out.append(
            _judged(
                job, bench, "coverage", cov.report, lambda t: g.coverage(name, cov.report, t, cov.min * 100)
            )
        )
    if (tests := spec.tests) is not None:
        out.append(
            _judged(
                job, bench, "tests", tests.report, lambda t: g.tests(name, tests.report, t, tests.min_tests)
            )
        )
    if (sec := spec.security) is not None:
        out.append(
            _judged(
                job,
                bench,
                "security",
                sec.report,
                lambda t: g.security(name, sec.report, t, sec.tool, sec.fail_at),
            )
        )
    if (audit := spec.audit) is not None:
        out.append(_judged(job, bench, "audit", audit.report, lambda t: g.audit(name, audit.report, t)))
    for check in spec.checks:
        left = deadline - time.monotonic()
        if left <= 0:
            out.append(g.check(name, check.name, check.command, None, ""))
            continue
        done = bench.run(check.command, job.folder, job.release, job.variables, job.log, left)
        out.append(g.check(name, check.name, check.command, done.code, done.output))
    return out


def _store_output(job: StageJob, sink: LineSink | None) -> str:
    """The stage's output into the central logs; its last lines to keep with the result."""
    try:
        raw = job.log.read_bytes().splitlines() if job.log.exists() else []
    except OSError:
        return ""
    if sink is not None and raw:
        sink.add_lines(
            job.env, job.release.id, f"pipeline-{job.run_id}-{job.name}", "stdout", raw[-MAX_LOG_LINES:]
        )
    return "\n".join(line.decode(errors="replace") for line in raw[-TAIL_LINES:])


def stage_row(result: StageResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "finished_at": time.time(),
        "detail": result.detail,
        "gates": [r.to_json() for r in result.gates],
        "output": result.output,
    }
