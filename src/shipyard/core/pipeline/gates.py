"""Gates on a stage's results, judged from its reports' figures. Pure.

Each function takes a report's text (read by the engine from the stage's workspace) and the
threshold from shipyard.yaml, and returns a ``GateResult`` whose message names the stage, the
figure and the threshold, so that ``shipyard pipeline show`` and a refused deployment say
exactly what failed: ``stage test: coverage 72.4% is below the minimum 90%``. A missing or
unreadable report fails its gate: a gate never passes for want of figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from shipyard.core.pipeline import reports as rp

T = TypeVar("T")
SHOWN_FINDINGS = 5


@dataclass(frozen=True)
class GateResult:
    stage: str
    gate: str  # coverage, tests, security, audit, check:<name>
    ok: bool
    figure: str  # what was measured, shown even when it passed: "91.2%", "40 tests, 0 failed"
    message: str  # one line naming the stage, the figure and the threshold

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read(stage: str, gate: str, report: str, text: str | None, parse: Callable[[str], T]) -> T | GateResult:
    if text is None:
        return GateResult(
            stage, gate, False, "no report",
            f"stage {stage}: {gate} gate: report {report} was not written by the stage's commands",
        )  # fmt: skip
    try:
        return parse(text)
    except rp.ReportError as exc:
        return GateResult(
            stage, gate, False, "unreadable report", f"stage {stage}: {gate} gate: {report} {exc}"
        )


def coverage(stage: str, report: str, text: str | None, minimum: float) -> GateResult:
    """``minimum`` in percent (90.0 for ``min: 90%``)."""
    fmt = "xml" if report.lower().endswith(".xml") else "json"
    got = _read(stage, "coverage", report, text, lambda t: rp.coverage_percent(t, fmt))
    if isinstance(got, GateResult):
        return got
    figure = f"{got:.1f}%"
    if got + 1e-9 < minimum:
        return GateResult(
            stage, "coverage", False, figure,
            f"stage {stage}: coverage {figure} is below the minimum {minimum:g}% ({report})",
        )  # fmt: skip
    return GateResult(stage, "coverage", True, figure, f"stage {stage}: coverage {figure} >= {minimum:g}%")


def tests(stage: str, report: str, text: str | None, min_tests: int) -> GateResult:
    got = _read(stage, "tests", report, text, rp.junit_counts)
    if isinstance(got, GateResult):
        return got
    bad = got.failures + got.errors
    figure = f"{got.tests} tests, {got.failures} failed, {got.errors} errors, {got.skipped} skipped"
    if bad > 0:
        return GateResult(
            stage, "tests", False, figure,
            f"stage {stage}: {bad} of {got.tests} tests failed or errored ({report}); none may fail",
        )  # fmt: skip
    if got.tests < min_tests:
        return GateResult(
            stage, "tests", False, figure,
            f"stage {stage}: {got.tests} tests ran, fewer than the minimum {min_tests} ({report})",
        )  # fmt: skip
    return GateResult(stage, "tests", True, figure, f"stage {stage}: {got.tests} tests, none failed")


def security(stage: str, report: str, text: str | None, tool: str, fail_at: str) -> GateResult:
    """Findings at or above ``fail_at`` (low, medium, high) fail the gate."""
    parse = rp.bandit_findings if tool == "bandit" else rp.ruff_findings
    got = _read(stage, "security", report, text, parse)
    if isinstance(got, GateResult):
        return got
    floor = rp.SEVERITIES.index(fail_at)
    counted = [f for f in got if rp.SEVERITIES.index(f.severity) >= floor]
    figure = f"{len(counted)} at or above {fail_at} ({len(got)} in all)"
    if counted:
        shown = "; ".join(f"{f.rule} {f.severity} at {f.where}" for f in counted[:SHOWN_FINDINGS])
        more = f" and {len(counted) - SHOWN_FINDINGS} more" if len(counted) > SHOWN_FINDINGS else ""
        return GateResult(
            stage, "security", False, figure,
            f"stage {stage}: {tool} found {len(counted)} finding(s) at or above {fail_at} "
            f"(the threshold): {shown}{more}",
        )  # fmt: skip
    return GateResult(
        stage, "security", True, figure, f"stage {stage}: no {tool} finding at or above {fail_at}"
    )


def audit(stage: str, report: str, text: str | None) -> GateResult:
    """Any vulnerable package fails, and so does any package pip-audit did not check."""
    got = _read(stage, "audit", report, text, rp.pip_audit_result)
    if isinstance(got, GateResult):
        return got
    figure = f"{len(got.vulnerable)} vulnerable, {len(got.unchecked)} not checked"
    if got.vulnerable:
        shown = "; ".join(f"{n} {v} ({', '.join(ids)})" for n, v, ids in got.vulnerable[:SHOWN_FINDINGS])
        return GateResult(
            stage, "audit", False, figure,
            f"stage {stage}: pip-audit found {len(got.vulnerable)} vulnerable package(s), "
            f"the threshold is 0: {shown}",
        )  # fmt: skip
    if got.unchecked:
        name, why = got.unchecked[0]
        return GateResult(
            stage, "audit", False, figure,
            f"stage {stage}: pip-audit did not check {len(got.unchecked)} package(s) (e.g. {name}: {why}); "
            "an unchecked package fails the gate: point pip-audit at an advisory source it can reach",
        )  # fmt: skip
    return GateResult(stage, "audit", True, figure, f"stage {stage}: no vulnerable package")


def check(stage: str, name: str, command: str, code: int | None, tail: str) -> GateResult:
    """A custom gate: a command that must exit 0."""
    gate = f"check:{name}"
    if code == 0:
        return GateResult(stage, gate, True, "exit 0", f"stage {stage}: check {name} passed")
    figure = "timed out" if code is None else f"exit {code}"
    last = tail.strip().splitlines()[-1] if tail.strip() else ""
    said = f": {last}" if last else ""
    return GateResult(
        stage,
        gate,
        False,
        figure,
        f"stage {stage}: check {name} (`{command}`) {figure}, it must exit 0{said}",
    )
