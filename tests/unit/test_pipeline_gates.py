"""Pipeline gates (tables): every gate passes on good figures and fails with a message naming
the stage, the figure and the threshold; unreadable or missing reports fail, never pass."""

from __future__ import annotations

import json

import pytest

from shipyard.core.pipeline import gates as g
from shipyard.core.pipeline import reports as rp

COVERAGE_JSON = json.dumps({"meta": {}, "totals": {"percent_covered": 72.4, "covered_lines": 72}})
COVERAGE_XML = '<?xml version="1.0" ?><coverage version="7.6" line-rate="0.9512" branch-rate="0"></coverage>'
JUNIT_OK = (
    '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" '
    'failures="0" skipped="1" tests="12" time="0.2"></testsuite></testsuites>'
)
JUNIT_FAILED = (
    '<testsuites><testsuite name="a" errors="1" failures="2" skipped="0" tests="10"/>'
    '<testsuite name="b" errors="0" failures="0" skipped="0" tests="5"/></testsuites>'
)
BANDIT = json.dumps(
    {
        "results": [
            {
                "issue_severity": "LOW",
                "test_id": "B101",
                "filename": "app.py",
                "line_number": 3,
                "issue_text": "assert",
            },
            {
                "issue_severity": "HIGH",
                "test_id": "B602",
                "filename": "app.py",
                "line_number": 9,
                "issue_text": "shell",
            },
        ]
    }
)
RUFF = json.dumps(
    [
        {"code": "E501", "filename": "app.py", "location": {"row": 1}, "message": "long"},
        {"code": "S105", "filename": "app.py", "location": {"row": 4}, "message": "password"},
    ]
)
AUDIT_VULN = json.dumps(
    {
        "dependencies": [{"name": "jinja2", "version": "2.10", "vulns": [{"id": "PYSEC-2019-217"}]}],
        "fixes": [],
    }
)
AUDIT_SKIPPED = json.dumps(
    {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {
                "name": "uvicorn",
                "skip_reason": "Dependency not found on PyPI and could not be audited: uvicorn",
            },
        ]
    }
)
AUDIT_CLEAN = json.dumps({"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}]})


@pytest.mark.parametrize(
    ("report", "text", "minimum", "ok", "in_message"),
    [
        ("coverage.json", COVERAGE_JSON, 90.0, False, "stage test: coverage 72.4% is below the minimum 90%"),
        ("coverage.json", COVERAGE_JSON, 70.0, True, "72.4% >= 70%"),
        ("coverage.xml", COVERAGE_XML, 95.0, True, "95.1% >= 95%"),
        ("coverage.xml", COVERAGE_XML, 96.0, False, "coverage 95.1% is below the minimum 96%"),
        ("coverage.json", None, 90.0, False, "report coverage.json was not written"),
        ("coverage.json", "{not json", 90.0, False, "coverage.json is not JSON"),
        ("coverage.json", '{"totals": {}}', 90.0, False, "has no totals.percent_covered"),
        ("coverage.xml", "<report/>", 90.0, False, "has no <coverage line-rate"),
        ("coverage.xml", '<!DOCTYPE x [<!ENTITY a "b">]><coverage line-rate="1"/>', 90.0, False, "DOCTYPE"),
    ],
)
def test_coverage_gate(report: str, text: str | None, minimum: float, ok: bool, in_message: str) -> None:
    result = g.coverage("test", report, text, minimum)
    assert result.ok is ok
    assert in_message in result.message
    assert result.stage == "test" and result.gate == "coverage"


@pytest.mark.parametrize(
    ("text", "min_tests", "ok", "in_message"),
    [
        (JUNIT_OK, 1, True, "12 tests, none failed"),
        (JUNIT_OK, 20, False, "12 tests ran, fewer than the minimum 20"),
        (JUNIT_FAILED, 1, False, "stage unit: 3 of 15 tests failed or errored (junit.xml); none may fail"),
        ('<testsuite tests="0" failures="0" errors="0" skipped="0"/>', 1, False, "0 tests ran"),
        ("<html/>", 1, False, "has a <html> root"),
        (None, 1, False, "was not written"),
    ],
)
def test_tests_gate(text: str | None, min_tests: int, ok: bool, in_message: str) -> None:
    result = g.tests("unit", "junit.xml", text, min_tests)
    assert result.ok is ok
    assert in_message in result.message


def test_junit_counts_sum_every_suite() -> None:
    assert rp.junit_counts(JUNIT_FAILED) == rp.TestCounts(tests=15, failures=2, errors=1, skipped=0)


@pytest.mark.parametrize(
    ("tool", "text", "fail_at", "ok", "in_message"),
    [
        (
            "bandit",
            BANDIT,
            "medium",
            False,
            "bandit found 1 finding(s) at or above medium (the threshold): B602 high at app.py:9",
        ),
        ("bandit", BANDIT, "low", False, "found 2 finding(s) at or above low"),
        (
            "bandit",
            json.dumps({"results": json.loads(BANDIT)["results"][:1]}),
            "medium",
            True,
            "no bandit finding",
        ),
        (
            "ruff",
            RUFF,
            "high",
            False,
            "ruff found 1 finding(s) at or above high (the threshold): S105 high at app.py:4",
        ),
        ("ruff", json.dumps([]), "low", True, "no ruff finding at or above low"),
        ("bandit", RUFF, "low", False, "has no `results` list"),
        ("ruff", BANDIT, "low", False, "is not a list of findings"),
    ],
)
def test_security_gate(tool: str, text: str, fail_at: str, ok: bool, in_message: str) -> None:
    result = g.security("scan", "report.json", text, tool, fail_at)
    assert result.ok is ok
    assert in_message in result.message
    assert result.message.startswith("stage scan:")


@pytest.mark.parametrize(
    ("text", "ok", "in_message"),
    [
        (
            AUDIT_VULN,
            False,
            "pip-audit found 1 vulnerable package(s), the threshold is 0: jinja2 2.10 (PYSEC-2019-217)",
        ),
        (AUDIT_SKIPPED, False, "did not check 1 package(s) (e.g. uvicorn: Dependency not found"),
        (AUDIT_CLEAN, True, "no vulnerable package"),
        ("[]", False, "has no `dependencies` list"),
    ],
)
def test_audit_gate_counts_unchecked_packages_as_failures(text: str, ok: bool, in_message: str) -> None:
    result = g.audit("deps", "pip-audit.json", text)
    assert result.ok is ok
    assert in_message in result.message


@pytest.mark.parametrize(
    ("code", "tail", "ok", "in_message"),
    [
        (0, "", True, "check migrations passed"),
        (
            3,
            "pending migration 0007\n",
            False,
            "check migrations (`./check.sh`) exit 3, it must exit 0: pending migration 0007",
        ),
        (None, "", False, "timed out, it must exit 0"),
    ],
)
def test_custom_check_gate(code: int | None, tail: str, ok: bool, in_message: str) -> None:
    result = g.check("verify", "migrations", "./check.sh", code, tail)
    assert result.ok is ok
    assert in_message in result.message
    assert result.gate == "check:migrations"


def test_an_unknown_bandit_severity_counts_as_high() -> None:
    text = json.dumps({"results": [{"issue_severity": "CRITICAL", "test_id": "B1"}]})
    assert rp.bandit_findings(text)[0].severity == "high"
