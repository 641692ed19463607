"""Manifest validation: every mistake names its key path and a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.core.durations import format_duration, parse_duration
from shipyard.errors import ManifestError
from shipyard.manifest.loader import load_manifest, parse_manifest
from shipyard.manifest.models import Canary


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "app": "notes",
        "processes": {"web": {"command": "uvicorn app:app --port $PORT"}},
        "environments": {"dev": {"port": 8080}},
    }
    data.update(extra)
    return data


def error_of(data: object) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(data)
    return info.value


def test_minimal_manifest_gets_defaults() -> None:
    m = parse_manifest(base())
    assert m.instances("dev") == 1
    assert m.health.path == "/health"
    assert m.strategy_for("dev").rollback_window == 600
    assert m.smoke[0].path == "/"


def test_environment_overrides() -> None:
    m = parse_manifest(
        base(
            env={"A": "1", "B": "1"},
            environments={
                "dev": {
                    "port": 8080,
                    "instances": 3,
                    "env": {"B": "2"},
                    "strategy": {"blue_green": {"rollback_window": "1m"}},
                }
            },
        )
    )
    assert m.instances("dev") == 3
    assert m.env_vars("dev") == {"A": "1", "B": "2"}
    assert m.strategy_for("dev").rollback_window == 60


@pytest.mark.parametrize(
    ("data", "where", "hint"),
    [
        (base(healt={}), "healt: unknown key 'healt'; did you mean 'health'?", "rename"),
        (
            base(processes={"web": {"command": "x", "instancs": 2}}),
            "processes.web.instancs: unknown key 'instancs'; did you mean 'instances'?",
            "rename",
        ),
        (
            base(environments={"dev": {"port": 8080, "strategy": {"blue_green": {"drain": 1}}}}),
            "environments.dev.strategy.blue_green.drain: unknown key",
            "drain_timeout",
        ),
        (base(environments={"dev": {"port": "abc"}}), "environments.dev.port:", "docs"),
        (base(health={"interval": "5 parsecs"}), "health.interval: '5 parsecs' is not a duration", "docs"),
        (base(smoke=[{"path": "no-slash"}]), "smoke[0].path:", "start with /"),
        (base(strategy="canery"), "strategy: unknown strategy 'canery'", "docs"),
    ],
)
def test_errors_name_path_and_fix(data: dict[str, Any], where: str, hint: str) -> None:
    err = error_of(data)
    assert where in err.message
    assert hint in err.hint


def test_missing_required_keys() -> None:
    err = error_of({"app": "notes"})
    assert "processes: required key is missing" in err.message
    assert "environments: required key is missing" in err.message


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (base(app="Bad Name"), "app name 'Bad Name'"),
        (base(processes={"worker": {"command": "x"}}), "processes must define `web`"),
        (base(environments={"dev": {"port": 8080}, "prod": {"port": 8080}}), "both use port 8080"),
        (base(environments={}), "at least one environment"),
    ],
)
def test_semantic_errors(data: dict[str, Any], text: str) -> None:
    assert text in error_of(data).message


def test_not_a_mapping() -> None:
    assert "expected a mapping" in error_of(["a"]).message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "shipyard.yaml"
    path.write_text("app: notes\nprocesses: [\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert f"{path}:3:" in info.value.message
    assert "not valid YAML" in info.value.message


def test_missing_file_says_init(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "shipyard.yaml")
    assert "shipyard init" in info.value.hint


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2), ("10m", 600), ("1h", 3600), ("1m30s", 90), (3, 3.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 parsecs", "s", "-1s", True, -2])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.25, 2, 90, 7200)] == ["250ms", "2s", "1.5m", "2h"]


def canary(**kw: Any) -> dict[str, Any]:
    return base(strategy={"canary": kw})


@pytest.mark.parametrize(
    ("data", "where", "text"),
    [
        (canary(steps=[10, 5, 100]), "strategy.canary.steps", "steps[1] = 5 does not increase on 10"),
        (canary(steps=[10, 50]), "strategy.canary.steps", "the last step must be 100"),
        (canary(steps=[10, 150]), "strategy.canary.steps", "each step is a percent from 1 to 100"),
        (canary(steps=[]), "strategy.canary.steps", "steps is empty"),
        (
            canary(analysis={"error_rate": {"max": 1}}),
            "strategy.canary.analysis.error_rate.max",
            "no unit: write a share with %",
        ),
        (
            canary(analysis={"error_rate": {"max": "120%"}}),
            "strategy.canary.analysis.error_rate.max",
            "between 0% and 100%",
        ),
        (
            canary(analysis={"latency_p95": {"max": 3}}),
            "strategy.canary.analysis.latency_p95.max",
            "no unit: write a latency",
        ),
        (
            canary(analysis={"latency_p99": {"max": "2h"}}),
            "strategy.canary.analysis.latency_p99.max",
            "out of range",
        ),
        (
            canary(analysis={"no_data": "skip"}),
            "strategy.canary.analysis.no_data",
            "'pause', 'fail' or 'pass'",
        ),
        (canary(pause_at=[30]), "strategy.canary", "pause_at 30 is not a step before 100"),
        (canary(interval="500ms"), "strategy.canary.interval", "greater than or equal to 1"),
        (canary(interval="1m", progress_deadline="1m"), "strategy.canary", "progress_deadline (1m)"),
        (base(strategy={"canary": {}, "blue_green": {}}), "strategy", "choose one strategy"),
        (
            base(
                strategy={"blue_green": {"analysis": {}, "analysis_window": "5s", "analysis_interval": "10s"}}
            ),
            "strategy.blue_green",
            "analysis_interval (10s) is longer than analysis_window (5s)",
        ),
        (base(notifications={"webhook": "ftp://x"}), "notifications.webhook", "should match pattern"),
    ],
)
def test_bad_rollout_settings_are_refused_with_the_key_path(
    data: dict[str, Any], where: str, text: str
) -> None:
    message = error_of(data).message
    assert f"  {where}" in message and text in message, message


def test_canary_defaults_and_shorthand() -> None:
    m = parse_manifest(base(strategy="canary"))
    c = m.strategy_for("dev")
    assert isinstance(c, Canary)
    assert c.steps == (10, 25, 50, 100) and c.interval == 30 and c.analysis.failure_limit == 0
    assert c.analysis.error_rate is not None and c.analysis.error_rate.max == 0.01
    assert c.analysis.latency_p99 is not None and c.analysis.latency_p99.max == 5
    assert c.analysis.no_data == "pause" and not c.sticky


def test_thresholds_keep_their_units() -> None:
    m = parse_manifest(canary(analysis={"error_rate": {"max": "0.5%"}, "latency_p95": {"max": "300ms"}}))
    c = m.strategy_for("dev")
    assert isinstance(c, Canary) and c.analysis.error_rate and c.analysis.latency_p95
    assert c.analysis.error_rate.max == pytest.approx(0.005)
    assert c.analysis.latency_p95.max == pytest.approx(0.3)


def test_an_environment_strategy_inherits_the_top_level_keys_of_its_kind() -> None:
    manifest = parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "x"}},
            "strategy": {"canary": {"steps": [20, 100], "interval": "7s", "analysis": {"min_requests": 9}}},
            "environments": {
                "dev": {"port": 8080},
                "prod": {"port": 8081, "strategy": {"canary": {"analysis": {"no_data": "fail"}}}},
                "test": {"port": 8082, "strategy": "blue-green"},
                "qa": {"port": 8083, "strategy": {"canary": {"steps": [50, 100]}}},
            },
        }
    )
    prod = manifest.strategy_for("prod")
    assert isinstance(prod, Canary)
    assert prod.steps == (20, 100) and prod.interval == 7.0
    assert prod.analysis.min_requests == 9 and prod.analysis.no_data == "fail"
    assert not isinstance(manifest.strategy_for("test"), Canary)  # another kind: replaced whole
    qa = manifest.strategy_for("qa")
    assert isinstance(qa, Canary) and qa.steps == (50, 100) and qa.interval == 7.0


def test_an_inherited_strategy_is_validated_as_merged() -> None:
    with pytest.raises(ManifestError, match=r"environments\.prod\.strategy\.canary.*pause_at 50"):
        parse_manifest(
            {
                "app": "notes",
                "processes": {"web": {"command": "x"}},
                "strategy": {"canary": {"pause_at": [50]}},
                "environments": {"prod": {"port": 8081, "strategy": {"canary": {"steps": [20, 100]}}}},
            }
        )
