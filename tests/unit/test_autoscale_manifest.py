"""``environments.<name>.autoscale``: validated like every key, with its path and a fix."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.autoscale import Behavior, Policy, StepRule
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.models import Manifest


def manifest(autoscale: dict[str, Any], **env: Any) -> Manifest:
    return parse_manifest(
        {
            "app": "notes",
            "processes": {"web": {"command": "uvicorn app:app --port $PORT"}},
            "environments": {"prod": {"port": 8080, "autoscale": autoscale, **env}},
        }
    )


def test_targets_with_defaults_and_the_counts() -> None:
    m = manifest({"min": 2, "max": 4, "targets": {"cpu": 70, "latency_p95": "300ms"}})
    scale = m.environments["prod"].autoscale
    assert scale is not None
    spec = scale.scaling()
    assert dict(spec.targets) == {"cpu": 70.0, "latency_p95": 0.3}
    assert spec.down.window == 300.0 and spec.up.window == 0.0
    assert (m.instances("prod"), m.most_instances("prod")) == (2, 4)
    assert manifest({"min": 2, "max": 4, "targets": {"cpu": 70}}, instances=3).instances("prod") == 3


def test_policies_rules_and_schedule_become_the_decisions_records() -> None:
    m = manifest(
        {
            "min": 1,
            "max": 10,
            "rules": [
                {"metric": "cpu", "above": 70, "for": "5m", "change": 1},
                {"metric": "cpu", "below": 30, "for": "15m", "change": -1, "cooldown": "1m"},
            ],
            "down": {"window": "1m", "policies": [{"instances": 1, "period": "1m"}]},
            "schedule": [{"cron": "* 8-17 * * 1-5", "min": 4}],
        }
    )
    scale = m.environments["prod"].autoscale
    assert scale is not None
    spec = scale.scaling()
    assert spec.rules == (
        StepRule("cpu", True, 70.0, 300.0, 1, 300.0),
        StepRule("cpu", False, 30.0, 900.0, -1, 60.0),
    )
    assert spec.down == Behavior(60.0, (Policy("instances", 1, 60.0),))
    assert scale.minimums() == (("* 8-17 * * 1-5", 4),)


@pytest.mark.parametrize(
    ("autoscale", "env", "says"),
    [
        ({"min": 5, "max": 4, "targets": {"cpu": 70}}, {}, "min (5) is above max (4)"),
        ({"min": 0, "max": 4, "targets": {"cpu": 70}}, {}, "autoscale.min"),
        ({"min": 1, "max": 4, "targets": {"cpu": -1}}, {}, "autoscale.targets.cpu"),
        ({"min": 1, "max": 4}, {}, "give targets"),
        ({"min": 1, "max": 4, "targets": {}}, {}, "give targets"),
        (
            {
                "min": 1,
                "max": 4,
                "targets": {"cpu": 70},
                "rules": [{"metric": "cpu", "above": 1, "change": 1}],
            },
            {},
            "one of the two",
        ),
        ({"min": 1, "max": 4, "rules": [{"metric": "cpu", "change": 1}]}, {}, "above or below"),
        ({"min": 1, "max": 4, "rules": [{"metric": "cpu", "above": 9, "change": 0}]}, {}, "change"),
        ({"min": 1, "max": 4, "rules": [{"metric": "disk", "above": 9, "change": 1}]}, {}, "rules[0].metric"),
        ({"min": 1, "max": 4, "targets": {"cpu": 70}, "schedule": [{"cron": "* *", "min": 2}]}, {}, "cron"),
        (
            {"min": 1, "max": 4, "targets": {"cpu": 70}, "schedule": [{"cron": "* * * * *", "min": 6}]},
            {},
            "above max",
        ),
        (
            {
                "min": 1,
                "max": 4,
                "targets": {"cpu": 70},
                "up": {"policies": [{"instances": 1, "percent": 5}]},
            },
            {},
            "one of instances or percent",
        ),
        ({"min": 2, "max": 4, "targets": {"cpu": 70}}, {"instances": 8}, "outside autoscale's 2 to 4"),
    ],
)
def test_mistakes_name_their_key(autoscale: dict[str, Any], env: dict[str, Any], says: str) -> None:
    with pytest.raises(ManifestError) as info:
        manifest(autoscale, **env)
    text = f"{info.value} {info.value.hint}"
    assert "environments.prod" in text
    assert says in text
