"""The configuration keys of shipyard.yaml: values per layer and the rules they must meet.

``config`` (every environment) and ``environments.<name>.config`` hold values;
``config_schema`` says which keys are required and what they must look like.
The pure resolver in ``core/config.py`` merges the layers and checks the rules;
the models here only validate the file's shape (key names, patterns that compile).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from shipyard.manifest.models import Manifest

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = frozenset({"PORT", "PATH", "VIRTUAL_ENV"})


class Model(BaseModel):
    """As ``manifest.models.Model`` (which imports this module): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _key(name: str) -> str:
    if not KEY.match(name):
        raise ValueError(
            f"config key {name!r} is not a variable name: use letters, digits and _, not starting "
            "with a digit (it reaches the app as an environment variable)"
        )
    return name


def _value(value: object) -> str:
    """YAML scalars become the strings the app will see: 4 -> "4", true -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError(f"a config value is a string, number or boolean, got {type(value).__name__}")


ConfigKey = Annotated[str, AfterValidator(_key)]
ConfigValue = Annotated[str, BeforeValidator(_value)]
ConfigValues = dict[ConfigKey, ConfigValue]


class ConfigRule(Model):
    required: bool = Field(True, description="Every environment must end up with a value for this key.")
    type: Literal["string", "integer", "number", "boolean", "url"] = Field(
        "string", description="What the resolved value must be: string, integer, number, boolean or url."
    )
    pattern: str | None = Field(
        None, description="Regular expression the whole resolved value must match (Python syntax)."
    )
    layer: Literal["base", "environment", "variable"] | None = Field(
        None,
        description="Where the value is expected to come from (named in the error when it is missing): "
        "`base` (config), `environment` (environments.<name>.config) or `variable` "
        "(the control plane's SHIPYARD_CONFIG_<ENV>_<KEY>).",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return pattern


ConfigSchema = dict[ConfigKey, ConfigRule]


def check_config(manifest: Manifest) -> None:
    """A key may not be both a config key and an `env` variable: one value per name."""
    config_keys = set(manifest.config) | set(manifest.config_schema)
    env_keys = set(manifest.env)
    for env in manifest.environments.values():
        config_keys |= set(env.config)
        env_keys |= set(env.env)
    reserved = sorted(k for k in config_keys if k in RESERVED or k.startswith("SHIPYARD_"))
    if reserved:
        raise ValueError(
            f"config key {reserved[0]} is Shipyard's own variable (PORT, PATH, VIRTUAL_ENV and "
            "SHIPYARD_* are set by Shipyard): rename the key"
        )
    both = sorted(config_keys & env_keys)
    if both:
        raise ValueError(
            f"{', '.join(both)} set both as config and as env: keep each name in one place "
            "(config is layered and checked; env is passed as is)"
        )
