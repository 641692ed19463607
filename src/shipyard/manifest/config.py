"""The configuration keys of shipyard.yaml: values per layer and the rules they must meet.

``config`` (every environment) and ``environments.<name>.config`` hold values;
``config_schema`` says which keys are required and what they must look like.
The pure resolver in ``core/config.py`` merges the layers and checks the rules;
the models here only validate the file's shape (key names, patterns that compile).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from shipyard.manifest.base import Model

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED = frozenset({"PORT", "PATH", "VIRTUAL_ENV"})


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


class Layer(Protocol):
    """One layer of names the app receives: the top level or an environment of ``Manifest``."""

    @property
    def config(self) -> Mapping[str, str]: ...

    @property
    def env(self) -> Mapping[str, str]: ...


def check_config(layers: Iterable[Layer], schema: ConfigSchema) -> None:
    """A key may not be both a config key and an `env` variable: one value per name.

    Called by ``Manifest``'s validation with itself and its environments as ``layers``."""
    config_keys = set(schema)
    env_keys: set[str] = set()
    for layer in layers:
        config_keys |= set(layer.config)
        env_keys |= set(layer.env)
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
