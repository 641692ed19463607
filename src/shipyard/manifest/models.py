"""The shape of shipyard.yaml, as pydantic models: the root ``Manifest`` and the small sections.

The larger sections are modules of their own (``strategy``, ``alerts``, ``database``,
``config``, ``logs``, ``promotion``), which this one imports and which never import it back.
Every model forbids unknown keys so that a typo is an error, never silently
ignored. ``manifest.loader`` turns validation errors into messages that name
the key path and the fix. Field descriptions double as the configuration
reference: ``tests/unit/test_docs.py`` checks that docs/configuration.md
documents every field of ``Manifest`` and its sections.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from shipyard.core.edge import EdgeRules
from shipyard.manifest.alerts import Alerts, Routing
from shipyard.manifest.autoscale import Autoscale
from shipyard.manifest.base import Model
from shipyard.manifest.checks import BindAddress, EnvVarName, EnvVarValue, HttpPath, Name
from shipyard.manifest.checks import Duration as Duration  # re-exported: cli/metrics.py reads it here
from shipyard.manifest.config import ConfigSchema, ConfigValues, check_config
from shipyard.manifest.cron import CronJob
from shipyard.manifest.database import Database, check_environments, merge_database
from shipyard.manifest.edge import Edge, check_domains
from shipyard.manifest.logs import EnvLogs, Logs, check_retention
from shipyard.manifest.pipeline import Pipeline
from shipyard.manifest.promotion import Approval, Promotion, check_path
from shipyard.manifest.registry import Registry

# The strategies live in strategy.py; re-exported here, where the engine and the tests import them.
from shipyard.manifest.strategy import Analysis as Analysis
from shipyard.manifest.strategy import BlueGreen as BlueGreen
from shipyard.manifest.strategy import Canary as Canary
from shipyard.manifest.strategy import Strategy, inherit_strategies
from shipyard.manifest.triggers import Triggers, check_triggers
from shipyard.manifest.verify import Verify

NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


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
    image: str = Field(
        "python:3.12-slim",
        pattern=r"^[a-z0-9][a-z0-9._/:@-]{0,254}$",
        description="Base image of the Dockerfile Shipyard generates for `runtime: docker` when the app "
        "has no `Dockerfile` of its own (it needs python3 with venv); on `runtime: swarm` it also runs "
        "Shipyard's usage agent on every node.",
    )


class Process(Model):
    command: str = Field(
        description="Shell command that starts one instance: `web` must serve HTTP on 127.0.0.1:$PORT; "
        "any other process is a worker (no port, no traffic)."
    )
    instances: int = Field(1, ge=1, le=32, description="Instances per colour (default for envs).")
    environments: dict[Name, int] = Field(
        default_factory=dict,
        description="A worker's instances per environment, overriding `instances` there (0: not run "
        "there); for web, `environments.<name>.instances` does this.",
    )
    settle: Duration = Field(
        1.0,
        ge=0,
        le=300,
        description="A worker must stay up this long after it starts before the deploy switches traffic.",
    )
    cpus: float | None = Field(
        None, gt=0, le=256, description="CPU limit of each container, in cores (`runtime: docker`)."
    )
    memory: str | None = Field(
        None,
        pattern=r"^[1-9][0-9]{0,11}[kmg]?$",
        description="Memory limit of each container: bytes or a number with k, m or g (`runtime: docker`).",
    )
    placement: tuple[str, ...] = Field(
        (),
        description="Swarm placement constraints of its tasks, e.g. `node.labels.zone==a` "
        "(`runtime: swarm`).",
    )


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
    restart_after: Duration | None = Field(
        None,
        gt=0,
        description="Replace an instance that stays alive but fails its probes this long (a liveness "
        "rule); unset: a hung instance is only taken out of traffic.",
    )

    @model_validator(mode="after")
    def _check_restart_after(self) -> Health:
        if self.restart_after is not None and self.restart_after <= self.interval:
            raise ValueError(
                f"health.restart_after ({self.restart_after:g}s) must be greater than health.interval "
                f"({self.interval:g}s): raise restart_after to a few intervals, for example 30s"
            )
        return self


class SmokeCheck(Model):
    path: HttpPath = Field("/", description="Path requested on every new instance.")
    expect_status: int = Field(200, ge=100, le=599, description="Status the answer must have.")
    contains: str | None = Field(None, description="Text the body must contain, if set.")


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
    edge: Edge = Field(
        default_factory=Edge, description="Rate limits, body size, networks, stickiness, compression."
    )
    verify: Verify | None = Field(
        None, description="Checks after each deployment here; promotion onward requires them passed."
    )
    autoscale: Autoscale | None = Field(
        None, description="Web instances follow load between min and max here (instead of a fixed count)."
    )

    @model_validator(mode="after")
    def _first_count_in_range(self) -> Environment:
        scale, count = self.autoscale, self.instances
        if scale is not None and count is not None and not scale.min <= count <= scale.max:
            raise ValueError(f"instances ({count}) is outside autoscale's {scale.min} to {scale.max}")
        return self


def check_processes(manifest: Manifest) -> None:
    """Worker overrides and jobs name environments that exist."""
    for name, process in manifest.processes.items():
        if unknown := [e for e in process.environments if e not in manifest.environments]:
            raise ValueError(f"processes.{name}.environments: unknown environment {unknown[0]!r}")
        if name == "web" and process.environments:
            raise ValueError(
                "processes.web.environments: set web's instances with environments.<name>.instances"
            )
        if bad := [n for n in process.environments.values() if not 0 <= n <= 32]:
            raise ValueError(f"processes.{name}.environments: {bad[0]} instances; give 0 to 32")
    for name, job in manifest.jobs.items():
        if unknown := [e for e in job.environments or () if e not in manifest.environments]:
            raise ValueError(f"jobs.{name}.environments: unknown environment {unknown[0]!r}")


class Manifest(Model):
    app: str = Field(description="App name: lowercase letters, digits and dashes.")
    runtime: Literal["process", "docker", "swarm"] = Field(
        "process",
        description="Where instances run: local processes, containers on one Docker Engine, or "
        "services of a Docker Swarm (images built from releases; swarm needs `registry`).",
    )
    registry: Registry | None = Field(
        None, description="Docker Registry v2 the release images are pushed to (pulled by digest)."
    )
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
    jobs: dict[Name, CronJob] = Field(
        default_factory=dict, description="Scheduled jobs: commands of the serving release run on a schedule."
    )
    pipeline: Pipeline | None = Field(
        None, description="Stages and gates a release must pass before it deploys."
    )
    triggers: Triggers | None = Field(
        None, description="Git pushes and webhooks: branch rules and the webhook's secret."
    )

    @model_validator(mode="before")
    @classmethod
    def _inherit_strategy(cls, data: Any) -> Any:
        """An environment's strategy of the same kind as the top-level one inherits its keys."""
        return inherit_strategies(data)

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
            for port in (env.port, env.edge.https_port):
                if port in ports:
                    raise ValueError(
                        f"environments {ports[port]} and {name} both use port {port}: "
                        "give each environment its own port (and HTTPS port)"
                    )
                if port is not None:
                    ports[port] = name
            if env.data_dir is not None:
                folder = os.path.normpath(env.data_dir)
                if folder in data_dirs:
                    raise ValueError(
                        f"environments {data_dirs[folder]} and {name} both use data_dir {env.data_dir!r}: "
                        "give each environment its own data folder"
                    )
                data_dirs[folder] = name
        check_domains({n: e.edge for n, e in self.environments.items()})
        check_path(self.promotion, self.environments)
        check_limits(self.runtime, self.processes)
        if self.runtime == "swarm" and self.registry is None:
            raise ValueError(
                "runtime: swarm needs `registry:` (every node pulls the release's image from it)"
            )
        check_config([self, *self.environments.values()], self.config_schema)
        check_retention(self)
        check_environments(self.database, {n: e.database for n, e in self.environments.items()})
        check_processes(self)
        if self.pipeline and self.pipeline.environment not in (None, *self.environments):
            raise ValueError(f"pipeline.environment: unknown environment {self.pipeline.environment!r}")
        if self.triggers:
            check_triggers(self.triggers, self.environments)
        for rule_name, rule in self.alerts.rules.items():
            if unknown := [e for e in rule.environments if e not in self.environments]:
                raise ValueError(f"alerts.rules.{rule_name}.environments: unknown environment {unknown[0]!r}")
        return self

    def instances(self, env: str) -> int:
        """Web instances per colour in ``env`` at its first deployment (``autoscale.min`` when
        autoscaled); later ones start at the autoscaler's desired count."""
        spec = self.environments[env]
        if spec.instances is not None:
            return spec.instances
        return spec.autoscale.min if spec.autoscale else self.processes["web"].instances

    def most_instances(self, env: str) -> int:
        """The most web instances a colour of ``env`` may run (``autoscale.max``, or the count)."""
        scale = self.environments[env].autoscale
        return max(scale.max, self.instances(env)) if scale else self.instances(env)

    def workers(self, env: str) -> dict[str, int]:
        """Each worker process (every process but web) and its instances in ``env`` (0: none)."""
        return {
            name: process.environments.get(env, process.instances)
            for name, process in self.processes.items()
            if name != "web"
        }

    def strategy_for(self, env: str) -> BlueGreen | Canary:
        own = self.environments[env].strategy
        return (own or self.strategy).settings

    def sticky(self, env: str) -> bool:
        """Whether a cookie keeps each client of ``env`` on one instance and version
        (``edge.sticky: cookie``, or ``canary.sticky``)."""
        strategy = self.strategy_for(env)
        canary = isinstance(strategy, Canary) and strategy.sticky
        return canary or self.environments[env].edge.sticky == "cookie"

    def edge_rules(self, env: str) -> EdgeRules:
        return self.environments[env].edge.rules()

    def database_for(self, env: str) -> Database:
        return merge_database(self.database, self.environments[env].database)

    def env_vars(self, env: str) -> dict[str, str]:
        return {**self.env, **self.environments[env].env}


def check_limits(runtime: str, processes: dict[str, Process]) -> None:
    """CPU and memory limits are the containers' (``runtime: docker``); a process has none."""
    for name, process in processes.items():
        for key in ("cpus", "memory"):
            if runtime == "process" and getattr(process, key) is not None:
                raise ValueError(
                    f"processes.{name}.{key} limits containers: set `runtime: docker`, or remove it"
                )
        if runtime != "swarm" and process.placement:
            raise ValueError(
                f"processes.{name}.placement places Swarm tasks: set `runtime: swarm`, or remove it"
            )
