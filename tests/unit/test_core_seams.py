"""Core decides over Protocols, not over the manifest's models: plain fakes stand in for them.

Each fake holds only the fields its Protocol names, so a core function that starts reading
anything else of the manifest fails here (AttributeError) before it ties core to manifest again;
where a manifest model exists for the same data, the decision must be the same with both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from shipyard.core import analysis, database, layout, rollout
from shipyard.core.config import Layer, resolve
from shipyard.core.edge import EdgeRules
from shipyard.core.masking import Column, plan_masking
from shipyard.core.records import Instance, Route
from shipyard.core.traffic import WindowStats
from shipyard.errors import ManifestError
from shipyard.manifest.loader import parse_manifest
from shipyard.manifest.strategy import Canary

CANARY = {
    "app": "notes",
    "processes": {"web": {"command": "run"}},
    "strategy": {"canary": {"steps": [10, 50, 100], "sticky": True}},
    "environments": {"dev": {"port": 8080}},
}


@dataclass(frozen=True)
class Limit:
    max: float


@dataclass(frozen=True)
class Limits:
    error_rate: Limit | None = Limit(0.01)
    latency_p50: Limit | None = None
    latency_p95: Limit | None = None
    latency_p99: Limit | None = Limit(5.0)
    min_requests: int = 50
    no_data: str = "pause"
    failure_limit: int = 0
    early_failure_confidence: float | None = 0.999


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...] = (10, 50, 100)
    pause_at: tuple[int, ...] = ()
    interval: float = 30.0
    progress_deadline: float = 600.0
    analysis: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Spec:
    """A manifest reduced to what the layout reads, with a canary made sticky by name."""

    environments: dict[str, SimpleNamespace]  # each only its `bind` and `port`
    health: layout.HealthCheck = parse_manifest(CANARY).health  # any object with its four fields
    per_colour: int = 1
    sticky_in: frozenset[str] = frozenset()

    def most_instances(self, env: str) -> int:
        return self.per_colour

    def sticky(self, env: str) -> bool:
        return env in self.sticky_in

    def edge_rules(self, env: str) -> EdgeRules:
        return EdgeRules()


def stats(requests: int, errors: int) -> WindowStats:
    return WindowStats(requests, errors, 5.0, 5, 5, 5, None)


def test_a_canary_plan_of_plain_values_steps_as_the_manifest_one_does() -> None:
    real = parse_manifest(CANARY).strategy_for("dev")
    assert isinstance(real, Canary)
    fake = Plan()
    state = rollout.start(fake, 0.0)
    passed = analysis.evaluate(stats(100, 0), fake.analysis)
    assert passed.result == "passed"
    for plan in (real, fake):
        advanced, action = rollout.on_check(state, passed, plan, 1.0)
        assert (advanced.step, action) == (1, "advance")
        failed = analysis.evaluate(stats(100, 50), plan.analysis)
        assert rollout.on_check(advanced, failed, plan, 2.0)[1] == "rollback"
    assert rollout.describe_plan(fake)[0] == rollout.describe_plan(real)[0]


def test_limits_of_plain_values_judge_early_and_count_no_data() -> None:
    early = analysis.evaluate_early(stats(400, 200), 400, Limits())
    assert early is not None and early.early and early.result == "failed"
    quiet = analysis.evaluate(stats(3, 0), Limits(no_data="fail"))
    assert analysis.apply_no_data(quiet, Limits(no_data="fail")).result == "failed"


def test_the_layout_of_a_plain_spec_matches_the_manifest_one() -> None:
    real = parse_manifest(CANARY)
    fake = Spec({"dev": SimpleNamespace(bind="127.0.0.1", port=8080)}, sticky_in=frozenset({"dev"}))
    route = Route(env="dev", active_colour="blue", active_release="r1")
    live = [Instance(1, "dev", "blue", 0, "r1", "127.0.0.1:9001", None, "running", 0, 0.0)]
    assert layout.layout_for(fake, {"dev": route}, live) == layout.layout_for(real, {"dev": route}, live)
    plain = layout.layout_for(Spec({"dev": SimpleNamespace(bind="0.0.0.0", port=9000)}, per_colour=3), {}, [])
    backend = plain.backend("dev")
    assert backend is not None and backend.bind == "0.0.0.0:9000" and not backend.sticky
    assert len(backend.servers) == 2 * 2 * 3  # two colours, room for two releases of three


def test_manifest_says_which_environments_are_sticky() -> None:
    both = {
        **CANARY,
        "environments": {"dev": {"port": 8080}, "prod": {"port": 8081, "strategy": "blue-green"}},
    }
    manifest = parse_manifest(both)
    assert manifest.sticky("dev") and not manifest.sticky("prod")


@dataclass(frozen=True)
class Database:
    engine: str = "sqlite"
    file: str | None = None
    url: str | None = None
    managed: bool = False


def test_a_plain_database_gives_its_file_and_url(tmp_path: Path) -> None:
    assert database.sqlite_path(Database(), tmp_path) == tmp_path / database.DEFAULT_FILE
    assert database.database_url(Database(file="x.db"), tmp_path) == f"sqlite:///{tmp_path.resolve()}/x.db"
    external = Database("postgres", url="postgresql://db/app")
    assert database.is_external(external) and database.database_url(external, tmp_path) == external.url
    assert not database.is_external(Database("postgres", managed=True))


@dataclass(frozen=True)
class Rule:
    required: bool = True
    type: str = "string"
    pattern: str | None = None
    layer: Layer | None = None


def test_plain_config_rules_are_checked() -> None:
    done = resolve("prod", {"PORT_NO": "80"}, {}, {}, {}, {"PORT_NO": Rule(type="integer")})
    assert done["PORT_NO"].value == "80"
    try:
        resolve("prod", {}, {}, {}, {}, {"URL": Rule(layer="environment")})
    except ManifestError as exc:
        assert "environments.prod.config" in exc.hint
    else:
        raise AssertionError("a required key no layer sets must be refused")


@dataclass(frozen=True)
class Fixed:
    fixed: str | int | float


def test_a_plain_fixed_rule_masks_as_the_manifest_one() -> None:
    schema = {"users": (Column("id", "integer", "INTEGER", False, True), Column("age", "integer", "INT"))}
    plan = plan_masking({"users": {"id": "keep", "age": Fixed(30)}}, schema)
    assert [(a.column, a.rule, a.fixed) for a in plan.actions] == [("age", "fixed", 30)]
