"""The shape of shipyard.yaml, as pydantic models.

Every model forbids unknown keys so that a typo is an error, never silently
ignored. ``manifest.loader`` turns validation errors into messages that name
the key path and the fix. Field descriptions double as the configuration
reference: ``tests/unit/test_docs.py`` checks that docs/configuration.md
documents every field below.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shipyard.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
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


class Process(Model):
    command: str = Field(
        description="Shell command that starts one instance; it must serve HTTP on 127.0.0.1:$PORT."
    )
    instances: int = Field(1, ge=1, le=32, description="Instances per colour (default for envs).")


class Health(Model):
    path: str = Field("/health", pattern=r"^/", description="HTTP path probed on each instance.")
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
    path: str = Field("/", pattern=r"^/", description="Path requested on every new instance.")
    expect_status: int = Field(200, ge=100, le=599, description="Status the answer must have.")
    contains: str | None = Field(None, description="Text the body must contain, if set.")


class BlueGreen(Model):
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


class Strategy(Model):
    blue_green: BlueGreen | None = Field(
        None, description="Blue-green: all traffic switches at once after the health gate."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data == "blue-green":
            return {"blue_green": {}}
        if isinstance(data, str):
            raise ValueError(f"unknown strategy {data!r}: use 'blue-green' or a mapping")
        return data

    @model_validator(mode="after")
    def _default(self) -> Strategy:
        if self.blue_green is None:
            object.__setattr__(self, "blue_green", BlueGreen())
        return self

    @property
    def settings(self) -> BlueGreen:
        assert self.blue_green is not None
        return self.blue_green


class Environment(Model):
    port: int = Field(ge=1, le=65535, description="Public port HAProxy listens on (127.0.0.1).")
    bind: str = Field("127.0.0.1", description="Address the public port binds to.")
    instances: int | None = Field(
        None, ge=1, le=32, description="Instances of web per colour here; default processes.web."
    )
    strategy: Strategy | None = Field(None, description="Overrides the top-level strategy.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables given to the app here."
    )


class Manifest(Model):
    app: str = Field(description="App name: lowercase letters, digits and dashes.")
    source: str = Field(".", description="Folder snapshotted into each release (relative).")
    build: Build = Field(default_factory=Build, description="How a release is built.")
    processes: dict[str, Process] = Field(description="Processes; `web` serves HTTP.")
    health: Health = Field(default_factory=Health, description="Health check of instances.")
    smoke: tuple[SmokeCheck, ...] = Field(
        (SmokeCheck(),), description="Requests every new instance must answer before traffic."
    )
    strategy: Strategy = Field(default_factory=Strategy, description="Default rollout strategy.")
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables given to the app everywhere."
    )
    environments: dict[str, Environment] = Field(description="Environments by name.")

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
        for name, env in self.environments.items():
            if not NAME.match(name):
                raise ValueError(f"environment name {name!r} must be lowercase letters, digits and dashes")
            if env.port in ports:
                raise ValueError(
                    f"environments {ports[env.port]} and {name} both use port {env.port}: "
                    "give each environment its own port"
                )
            ports[env.port] = name
        return self

    def instances(self, env: str) -> int:
        own = self.environments[env].instances
        return own if own is not None else self.processes["web"].instances

    def strategy_for(self, env: str) -> BlueGreen:
        own = self.environments[env].strategy
        return (own or self.strategy).settings

    def env_vars(self, env: str) -> dict[str, str]:
        return {**self.env, **self.environments[env].env}
