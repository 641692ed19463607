"""Reading the reports a stage's tools write: coverage.py (JSON or XML), JUnit XML, bandit and
ruff findings (JSON), pip-audit (JSON). Pure: each function takes the report's text.

A report that is not what its gate expects raises ``ReportError`` saying what was found; the
gate (``gates.py``) turns it into a failure naming the stage and the file.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("low", "medium", "high")


class ReportError(ValueError):
    """The report cannot be read as the gate's format."""


@dataclass(frozen=True)
class TestCounts:
    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped


@dataclass(frozen=True)
class Finding:
    severity: str  # low, medium, high
    rule: str  # B105, S608...
    where: str  # file:line
    text: str


@dataclass(frozen=True)
class AuditResult:
    vulnerable: tuple[tuple[str, str, tuple[str, ...]], ...]  # (package, version, advisory ids)
    unchecked: tuple[tuple[str, str], ...]  # (package, why it was not checked)


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"is not JSON ({exc.msg} at line {exc.lineno}); expected {what}") from None


def _xml(text: str, what: str) -> ET.Element:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ReportError(f"declares a DOCTYPE or entities, which a {what} never does")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ReportError(f"is not XML ({exc}); expected {what}") from None


def coverage_percent(text: str, fmt: str) -> float:
    """The total line coverage, in percent, from coverage.py's ``json`` or ``xml`` report."""
    if fmt == "json":
        data = _json(text, "coverage.py's JSON report (`coverage json`)")
        try:
            return float(data["totals"]["percent_covered"])
        except (KeyError, TypeError, ValueError):
            raise ReportError("has no totals.percent_covered: is it `coverage json`'s output?") from None
    root = _xml(text, "coverage.py's XML report (`coverage xml`)")
    rate = root.get("line-rate")
    if root.tag != "coverage" or rate is None:
        raise ReportError("has no <coverage line-rate=...> root: is it `coverage xml`'s output?")
    try:
        return float(rate) * 100
    except ValueError:
        raise ReportError(f"has line-rate {rate!r}, not a number") from None


def junit_counts(text: str) -> TestCounts:
    """Tests, failures, errors and skipped of a JUnit XML report (every ``<testsuite>`` summed)."""
    root = _xml(text, "a JUnit XML report (`pytest --junitxml=FILE`)")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        raise ReportError(f"has a <{root.tag}> root, not <testsuites> or <testsuite>")
    totals = [0, 0, 0, 0]
    for suite in suites:
        for i, key in enumerate(("tests", "failures", "errors", "skipped")):
            try:
                totals[i] += int(suite.get(key, "0"))
            except ValueError:
                raise ReportError(f"has {key}={suite.get(key)!r} on a <testsuite>, not a count") from None
    return TestCounts(*totals)


def bandit_findings(text: str) -> list[Finding]:
    """bandit's ``-f json`` results."""
    data = _json(text, "bandit's JSON report (`bandit -f json -o FILE`)")
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ReportError("has no `results` list: is it `bandit -f json`'s output?")
    found = []
    for item in data["results"]:
        severity = str(item.get("issue_severity", "")).lower()
        if severity not in SEVERITIES:
            severity = "high"  # an unknown severity counts as the worst, never as none
        where = f"{item.get('filename', '?')}:{item.get('line_number', '?')}"
        found.append(Finding(severity, str(item.get("test_id", "?")), where, str(item.get("issue_text", ""))))
    return found


def ruff_findings(text: str) -> list[Finding]:
    """ruff's ``--output-format json`` findings of the ``S`` (bandit) rules; ruff gives no
    severity, so each counts as high."""
    data = _json(text, "ruff's JSON output (`ruff check --output-format json`)")
    if not isinstance(data, list):
        raise ReportError("is not a list of findings: is it `ruff check --output-format json`'s output?")
    found = []
    for item in data:
        code = str(item.get("code") or "")
        if code.startswith("S"):
            row = (item.get("location") or {}).get("row", "?")
            found.append(
                Finding("high", code, f"{item.get('filename', '?')}:{row}", str(item.get("message", "")))
            )
    return found


def pip_audit_result(text: str) -> AuditResult:
    """pip-audit's ``-f json`` report: vulnerable packages, and packages it did not check (for
    example "Dependency not found on PyPI" when its service is unreachable)."""
    data = _json(text, "pip-audit's JSON report (`pip-audit -f json -o FILE`)")
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        raise ReportError("has no `dependencies` list: is it `pip-audit -f json`'s output?")
    vulnerable, unchecked = [], []
    for dep in deps:
        name, version = str(dep.get("name", "?")), str(dep.get("version", "?"))
        if dep.get("skip_reason"):
            unchecked.append((name, str(dep["skip_reason"])))
        elif dep.get("vulns"):
            vulnerable.append((name, version, tuple(str(v.get("id", "?")) for v in dep["vulns"])))
    return AuditResult(tuple(vulnerable), tuple(unchecked))
