"""The shape of shipyard.yaml, as pydantic models.

Every model forbids unknown keys so that a typo is an error, never silently
ignored. ``manifest.loader`` turns validation errors into messages that name
the key path and the fix. Field descriptions double as the configuration
reference: ``tests/unit/test_docs.py`` checks that docs/configuration.md
documents every field below.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from shipyard.core.durations import format_duration, parse_duration
from shipyard.manifest.alerts import Alerts, Routing
from shipyard.manifest.checks import BindAddress, EnvVarName, EnvVarValue, HttpPath, Name
from shipyard.manifest.checks import Duration as Duration  # re-exported: cli/metrics.py reads it here
from shipyard.manifest.config import ConfigSchema, ConfigValues, check_config
from shipyard.manifest.database import Database, check_environments, merge_database
from shipyard.manifest.logs import EnvLogs, Logs, check_retention
from shipyard.manifest.promotion import Approval, Promotion, check_path

NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Build(Model):
    requirements: str | None = Field(
        "requirements.txt",
        description="Requirements or lock file installed into the release's virtual environment "
        "(relative to source). Its hash keys the dependency cache. Null for no dependencies.",
    )
    pyproject: bool = Field(
        False, description="Also install the source folder itself as a package (pyproject.toml)."
    )
    commands: tuple[str, ...] = Field(
        (), description="Extra shell commands run in the release folder, with the venv active."
    )
    timeout: Duration = Field(600.0, description="Longest a build may take.")
    include_secret_files: tuple[str, ...] = Field(
        (),
        description="Files (paths relative to source) copied into releases although they look like "
        "secrets (`.env`, `.env.*`, SOPS files are left out by default).",
    )


class Process(Model):
    command: str = Field(
        description="Shell command that starts one instance; it must serve HTTP on 127.0.0.1:$PORT."
    )
    instances: int = Field(1, ge=1, le=32, description="Instances per colour (default for envs).")


class Health(Model):
    path: HttpPath = Field("/health", description="HTTP path probed on each instance.")
    interval: Duration = Field(1.0, gt=0, description="Time between two probes of an instance.")
    timeout: Duration = Field(2.0, gt=0, description="A probe slower than this fails.")
    healthy_threshold: int = Field(
        2, ge=1, le=100, description="Consecutive successes before an instance counts as healthy."
    )
    unhealthy_threshold: int = Field(
        3, ge=1, le=100, description="Consecutive failures before a healthy instance is unhealthy."
    )
    start_timeout: Duration = Field(
        60.0, gt=0, description="Longest a new instance may take to become healthy."
    )


class SmokeCheck(Model):
    path: HttpPath = Field("/", description="Path requested on every new instance.")
    expect_status: int = Field(200, ge=100, le=599, description="Status the answer must have.")
    contains: str | None = Field(None, description="Text the body must contain, if set.")


def _percent(value: object) -> float:
    """ "1%" -> 0.01. A bare number is refused: the unit says what the figure means."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip()[:-1]) / 100
        except ValueError:
            share = -1.0
        if 0 <= share <= 1:
            return share
        raise ValueError(f"{value!r} is not a share between 0% and 100%")
    raise ValueError(f"{value!r} has no unit: write a share with %, such as 1% or 0.5%")


def _latency(value: object) -> float:
    """ "300ms" / "3s" -> seconds. A bare number is refused: 3 could be seconds or ms."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit: write a latency such as 300ms or 3s")
    seconds = parse_duration(value)
    if not 0 < seconds <= 600:
        raise ValueError(f"{value!r} is out of range: a latency limit is above 0 and at most 10m")
    return seconds


Percent = Annotated[float, BeforeValidator(_percent)]
Latency = Annotated[float, BeforeValidator(_latency)]


class RateLimit(Model):
    max: Percent = Field(description="Highest share of 5xx answers of the new version, e.g. `1%`.")


class LatencyLimit(Model):
    max: Latency = Field(description="Highest latency of the new version at this percentile, e.g. `3s`.")


class Analysis(Model):
    error_rate: RateLimit | None = Field(
        RateLimit(max="1%"), description="Share of the new version's answers that are 5xx."
    )
    latency_p50: LatencyLimit | None = Field(None, description="Median latency of the new version.")
    latency_p95: LatencyLimit | None = Field(None, description="95th percentile latency.")
    latency_p99: LatencyLimit | None = Field(LatencyLimit(max="5s"), description="99th percentile latency.")
    min_requests: int = Field(
        50, ge=1, description="Fewer requests than this to the new version in a check: no data."
    )
    no_data: Literal["pause", "fail", "pass"] = Field(
        "pause",
        description="What an inconclusive check (no data) does: `pause` (hold the weight and check "
        "again), `fail` (count as a failed check) or `pass`.",
    )
    failure_limit: int = Field(0, ge=0, le=100, description="Failed checks tolerated; one more rolls back.")
    early_failure_confidence: Percent | None = Field(
        0.999,
        description="Fail a check before its end once the new version is beyond a limit at this "
        "confidence (a sequential test, looked at every quarter second); null: only at the end.",
    )

    @field_validator("early_failure_confidence")
    @classmethod
    def _confidence(cls, value: float | None) -> float | None:
        if value is not None and not 0.5 <= value < 1:
            raise ValueError(
                f"{value * 100:g}% is out of range: a confidence is at least 50% and below 100%, "
                "such as 99.9% (null turns early failures off)"
            )
        return value


class Rollout(Model):
    """Settings every strategy shares."""

    drain_timeout: Duration = Field(
        30.0, ge=0, description="Longest wait for the old colour's in-flight requests."
    )
    rollback_window: Duration = Field(
        600.0, ge=0, description="How long the old colour keeps running for an instant rollback."
    )
    stop_timeout: Duration = Field(
        10.0, ge=0, description="Grace between SIGTERM and SIGKILL when stopping an instance."
    )
    max_restarts: int = Field(
        3,
        ge=0,
        le=20,
        description="Crashes a new instance may have during a deploy before it fails.",
    )


class BlueGreen(Rollout):
    analysis: Analysis | None = Field(
        None, description="If set, the new version is analysed after the switch (auto rollback)."
    )
    analysis_window: Duration = Field(
        60.0, gt=0, description="How long after the switch the analysis watches the new version."
    )
    analysis_interval: Duration = Field(
        10.0, ge=1, description="Length of one analysis check within the window."
    )

    @model_validator(mode="after")
    def _check(self) -> BlueGreen:
        if self.analysis is not None and self.analysis_interval > self.analysis_window:
            raise ValueError(
                f"analysis_interval ({format_duration(self.analysis_interval)}) is longer than "
                f"analysis_window ({format_duration(self.analysis_window)}): no check could finish"
            )
        return self


class Canary(Rollout):
    steps: tuple[int, ...] = Field(
        (10, 25, 50, 100), description="Percent of requests on the new version, step by step."
    )
    interval: Duration = Field(30.0, ge=1, description="How long each step is watched (one check).")
    analysis: Analysis = Field(default_factory=Analysis, description="Checks of each step.")
    pause_at: tuple[int, ...] = Field(
        (), description="Steps (percent) where the rollout waits for `shipyard rollout promote`."
    )
    sticky: bool = Field(
        False, description="Keep each client on one version during the rollout (HAProxy cookie)."
    )
    progress_deadline: Duration = Field(
        600.0, gt=0, description="A rollout that does not advance for this long fails and rolls back."
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps:
            raise ValueError("steps is empty: list percentages ending in 100, such as [10, 25, 50, 100]")
        for i, weight in enumerate(steps):
            if not 1 <= weight <= 100:
                raise ValueError(f"steps[{i}] = {weight}: each step is a percent from 1 to 100")
            if i and weight <= steps[i - 1]:
                raise ValueError(
                    f"steps[{i}] = {weight} does not increase on {steps[i - 1]}: "
                    "list steps from the smallest to 100"
                )
        if steps[-1] != 100:
            raise ValueError(f"steps end at {steps[-1]}: the last step must be 100")
        return steps

    @model_validator(mode="after")
    def _check(self) -> Canary:
        steps = self.steps
        for weight in self.pause_at:
            if weight not in steps[:-1]:
                raise ValueError(
                    f"pause_at {weight} is not a step before 100 (steps: {list(steps)}): "
                    "pause at one of the steps"
                )
        detect = self.interval * (self.analysis.failure_limit + 1)
        if self.progress_deadline <= detect:
            raise ValueError(
                f"progress_deadline ({format_duration(self.progress_deadline)}) must be longer than "
                f"interval x (failure_limit + 1) = {format_duration(detect)}"
            )
        return self


class Strategy(Model):
    blue_green: BlueGreen | None = Field(
        None, description="Blue-green: all traffic switches at once after the health gate."
    )
    canary: Canary | None = Field(
        None, description="Canary: traffic moves step by step while each step is analysed."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data == "blue-green":
            return {"blue_green": {}}
        if data == "canary":
            return {"canary": {}}
        if isinstance(data, str):
            raise ValueError(f"unknown strategy {data!r}: use 'blue-green', 'canary' or a mapping")
        return data

    @model_validator(mode="after")
    def _default(self) -> Strategy:
        if self.blue_green is not None and self.canary is not None:
            raise ValueError("choose one strategy: blue_green or canary, not both")
        if self.blue_green is None and self.canary is None:
            object.__setattr__(self, "blue_green", BlueGreen())
        return self

    @property
    def settings(self) -> BlueGreen | Canary:
        chosen = self.canary or self.blue_green
        assert chosen is not None
        return chosen


class Notifications(Routing):
    webhook: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL that receives a JSON POST for each rollout event (rollback, promotion).",
    )


class Vault(Model):
    keep_versions: int = Field(
        10, ge=1, le=1000, description="Versions kept per secret; a write drops older ones."
    )
    deleted_retention: Duration = Field(
        90 * 86400.0,
        ge=0,
        description="How long a deleted secret can be recovered (`secrets recover`) before it is purged.",
    )
    due_within: Duration = Field(
        30 * 86400.0, gt=0, description="`shipyard secrets due` also lists secrets due within this."
    )
    rotate_every: Duration | None = Field(
        None, gt=0, description="Rotation period given to new secrets unless `--rotate-every` says otherwise."
    )


class Environment(Model):
    port: int = Field(ge=1, le=65535, description="Public port HAProxy listens on (127.0.0.1).")
    bind: BindAddress = Field("127.0.0.1", description="Address the public port binds to.")
    instances: int | None = Field(
        None, ge=1, le=32, description="Instances of web per colour here; default processes.web."
    )
    strategy: Strategy | None = Field(None, description="Overrides the top-level strategy.")
    env: dict[EnvVarName, EnvVarValue] = Field(
        default_factory=dict, description="Extra environment variables given to the app here."
    )
    data_dir: str | None = Field(
        None, description="The app's data folder here (SHIPYARD_DATA_DIR); relative to the Shipyard home."
    )
    config: ConfigValues = Field(
        default_factory=dict, description="Configuration values here, layered over the top-level `config`."
    )
    approval: Approval | None = Field(None, description="Deployments here wait for a second person.")
    database: Database | None = Field(None, description="Overrides the keys of `database` it sets.")
    logs: EnvLogs | None = Field(None, description="Overrides the top-level log retention here.")


class Manifest(Model):
    app: str = Field(description="App name: lowercase letters, digits and dashes.")
    source: str = Field(".", description="Folder snapshotted into each release (relative).")
    build: Build = Field(default_factory=Build, description="How a release is built.")
    processes: dict[Name, Process] = Field(description="Processes; `web` serves HTTP.")
    health: Health = Field(default_factory=Health, description="Health check of instances.")
    smoke: tuple[SmokeCheck, ...] = Field(
        (SmokeCheck(),), description="Requests every new instance must answer before traffic."
    )
    strategy: Strategy = Field(default_factory=Strategy, description="Default rollout strategy.")
    notifications: Notifications = Field(
        default_factory=Notifications, description="Where alerts and deployment events are sent."
    )
    alerts: Alerts = Field(default_factory=Alerts, description="Alert rules and how often they run.")
    env: dict[EnvVarName, EnvVarValue] = Field(
        default_factory=dict, description="Environment variables given to the app everywhere."
    )
    vault: Vault = Field(default_factory=Vault, description="Secrets vault settings.")
    database: Database = Field(
        default_factory=Database, description="The app's database (default of every environment)."
    )
    environments: dict[Name, Environment] = Field(description="Environments by name.")
    config: ConfigValues = Field(default_factory=dict, description="Base configuration values.")
    config_schema: ConfigSchema = Field(
        default_factory=dict, description="Rules for configuration keys (required, type, pattern)."
    )
    promotion: Promotion | None = Field(None, description="The order releases go through environments.")
    logs: Logs = Field(default_factory=Logs, description="Retention and size of the central log store.")

    @model_validator(mode="before")
    @classmethod
    def _inherit_strategy(cls, data: Any) -> Any:
        """An environment's strategy of the same kind as the top-level one inherits its keys."""
        if not isinstance(data, dict) or not isinstance(data.get("environments"), dict):
            return data
        top = _strategy_mapping(data.get("strategy"))
        if top is None:
            return data
        envs = {}
        for name, spec in data["environments"].items():
            own = _strategy_mapping(spec.get("strategy")) if isinstance(spec, dict) else None
            if own is not None and own.keys() == top.keys():
                spec = {**spec, "strategy": _deep_merge(top, own)}
            envs[name] = spec
        return {**data, "environments": envs}

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if not NAME.match(self.app):
            raise ValueError(
                f"app name {self.app!r} must be lowercase letters, digits and dashes, starting with a letter"
            )
        if "web" not in self.processes:
            raise ValueError("processes must define `web`, the process that serves HTTP")
        if not self.environments:
            raise ValueError("define at least one environment, for example `dev: {port: 8080}`")
        ports: dict[int, str] = {}
        data_dirs: dict[str, str] = {}
        for name, env in self.environments.items():
            if not NAME.match(name):
                raise ValueError(f"environment name {name!r} must be lowercase letters, digits and dashes")
            if env.port in ports:
                raise ValueError(
                    f"environments {ports[env.port]} and {name} both use port {env.port}: "
                    "give each environment its own port"
                )
            ports[env.port] = name
            if env.data_dir is not None:
                folder = os.path.normpath(env.data_dir)
                if folder in data_dirs:
                    raise ValueError(
                        f"environments {data_dirs[folder]} and {name} both use data_dir {env.data_dir!r}: "
                        "give each environment its own data folder"
                    )
                data_dirs[folder] = name
        check_path(self.promotion, self.environments)
        check_config(self)
        check_retention(self)
        check_environments(self.database, {n: e.database for n, e in self.environments.items()})
        for rule_name, rule in self.alerts.rules.items():
            if unknown := [e for e in rule.environments if e not in self.environments]:
                raise ValueError(f"alerts.rules.{rule_name}.environments: unknown environment {unknown[0]!r}")
        return self

    def instances(self, env: str) -> int:
        own = self.environments[env].instances
        return own if own is not None else self.processes["web"].instances

    def strategy_for(self, env: str) -> BlueGreen | Canary:
        own = self.environments[env].strategy
        return (own or self.strategy).settings

    def database_for(self, env: str) -> Database:
        return merge_database(self.database, self.environments[env].database)

    def env_vars(self, env: str) -> dict[str, str]:
        return {**self.env, **self.environments[env].env}


def _strategy_mapping(value: Any) -> dict[str, Any] | None:
    """A strategy as ``{kind: {...}}`` (shorthands expanded), or None if it is not one."""
    if value == "blue-green":
        return {"blue_green": {}}
    if value == "canary":
        return {"canary": {}}
    if isinstance(value, dict) and len(value) == 1:
        kind, body = next(iter(value.items()))
        return {kind: body if body is not None else {}}
    return None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
