"""Strict patterns for the manifest values that reach HAProxy's configuration or a command line.

A value that ends up in ``haproxy.cfg`` (a bind address, a health-check path, an environment
name inside frontend and backend names) or in a process's environment (variable names and
values, process names in log file names) is checked here at load time against a pattern of
what is allowed, never escaped: a newline, a quote, a ``#`` or a space would otherwise let a
manifest write its own HAProxy directives. ``core/proxy_checks.py`` checks the same values
again when the configuration is rendered, as a second line of defence.

Each failure is a ``PydanticCustomError`` whose context carries a hint; ``manifest.loader``
prints it after the key path. ``models.py`` and its sibling modules use the annotated types.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from shipyard.core.durations import parse_duration
from shipyard.core.proxy_checks import HTTP_PATH, MAX_PATH, NAME

ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_ENV_VALUE = 32 * 1024
LONGEST_DURATION = 10 * 365 * 86400.0


def unsafe(message: str, hint: str) -> PydanticCustomError:
    """A validation error the loader shows as ``<key path>: <message>`` with ``hint``."""
    return PydanticCustomError("unsafe_value", message, {"hint": hint})


def check_name(value: str) -> str:
    if not NAME.match(value):
        raise unsafe(
            f"{value!r} is not a valid name",
            "use 1 to 40 lowercase letters, digits and dashes, starting with a letter",
        )
    return value


def check_bind(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise unsafe(
            f"{value!r} is not an IPv4 address",
            "write the address only, such as 127.0.0.1 or 0.0.0.0 (the port is `port`)",
        ) from None
    return str(address)


def check_http_path(value: str) -> str:
    if len(value) > MAX_PATH or not HTTP_PATH.match(value):
        raise unsafe(
            f"{value[:80]!r} is not a plain URL path",
            f"start with / and use at most {MAX_PATH} letters, digits and -._~%/:@!&=+,;*()? "
            "(percent-encode anything else; no spaces, quotes or #)",
        )
    return value


def check_env_name(value: str) -> str:
    if not ENV_VAR.match(value):
        raise unsafe(
            f"{value[:80]!r} is not a valid environment variable name",
            "use letters, digits and _, not starting with a digit (at most 128 characters)",
        )
    return value


def check_env_value(value: str) -> str:
    if "\0" in value or len(value) > MAX_ENV_VALUE:
        raise unsafe(
            "the value holds a NUL character or is longer than 32 KiB",
            "an environment variable's value is text without NUL, at most 32 KiB",
        )
    return value


def check_duration(value: float) -> float:
    if not math.isfinite(value) or value > LONGEST_DURATION:
        raise unsafe(
            f"{value!r} is not a duration Shipyard accepts",
            "use a finite duration of at most 3650d (ten years)",
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
BindAddress = Annotated[str, AfterValidator(check_bind)]
HttpPath = Annotated[str, AfterValidator(check_http_path)]
EnvVarName = Annotated[str, AfterValidator(check_env_name)]
EnvVarValue = Annotated[str, AfterValidator(check_env_value)]
Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(check_duration)]
