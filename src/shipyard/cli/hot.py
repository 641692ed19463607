"""The ``shipyard`` entry point: the hot commands on a fast path, everything else through Typer.

A rollback is typed in an incident, often on a loaded machine, and must reach the control
plane at once. Loading the whole Typer app (Typer, Click, Rich, httpx, every command module)
costs about half a second of CPU, and more when the cores are busy. So this entry point reads
the few options of ``rollback`` and ``deploy`` itself and sends their request with the standard
library (``connection.py``); Rich and the follow loop are loaded after it. Anything else,
``--help``, and any option or argument it does not know, goes to the Typer app (``main.py``),
which stays the one definition of the commands, their help and docs/cli.md.
``tests/unit/test_cli_start.py`` checks that both read the same options with the same defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from shipyard.errors import ShipyardError


class Spec(NamedTuple):  # a NamedTuple, not a dataclass: `dataclasses` costs milliseconds to import
    """A hot command's parameters, as its Typer command declares them."""

    argument: tuple[str, str]  # name, default
    options: dict[str, tuple[str, Any]]  # --flag -> (name, default); value options take one
    switches: dict[str, tuple[str, bool]] = {}  # --flag -> (name, value it sets)  # noqa: RUF012
    switched: dict[str, bool] = {}  # name -> default of the switches' value  # noqa: RUF012

    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.argument[0]: self.argument[1], **self.switched}
        return out | {name: default for name, default in self.options.values()}


HOT: dict[str, Spec] = {
    "rollback": Spec(("env", "dev"), {"--to": ("to", None)}),
    "deploy": Spec(
        ("env", "dev"),
        {"--release": ("release", None)},
        {"--wait": ("wait", True), "--no-wait": ("wait", False)},
        {"wait": True},
    ),
}
GLOBAL = {"--home": ("home", "SHIPYARD_HOME", ".shipyard"), "--app-dir": ("app_dir", "SHIPYARD_APP_DIR", ".")}


class Call(NamedTuple):
    command: str
    values: dict[str, Any]
    home: Path
    app_dir: Path


def parse(argv: list[str]) -> Call | None:
    """The hot command ``argv`` asks for, or None when it is anything else (Typer reads it)."""
    folders = {name: os.environ.get(var) or default for name, var, default in GLOBAL.values()}
    rest = list(argv)
    while rest and rest[0].split("=", 1)[0] in GLOBAL:
        taken = _option_value(rest)
        if taken is None:
            return None
        folders[GLOBAL[taken[0]][0]] = taken[1]
    if not rest or rest[0] not in HOT:
        return None
    command = rest.pop(0)
    values = _command_values(HOT[command], rest)
    if values is None:
        return None
    return Call(command, values, Path(folders["home"]), Path(folders["app_dir"]))


def _command_values(spec: Spec, rest: list[str]) -> dict[str, Any] | None:
    values = spec.defaults()
    positional: list[str] = []
    while rest:
        word = rest[0]
        flag = word.split("=", 1)[0]
        if word == "--" or (word.startswith("-") and flag not in spec.options and word not in spec.switches):
            return None  # --help, an unknown option: Typer answers
        if word in spec.switches:
            name, value = spec.switches[rest.pop(0)]
            values[name] = value
        elif flag in spec.options:
            taken = _option_value(rest)
            if taken is None:
                return None
            values[spec.options[flag][0]] = taken[1]
        else:
            positional.append(rest.pop(0))
    if len(positional) > 1:
        return None
    if positional:
        values[spec.argument[0]] = positional[0]
    return values


def _option_value(rest: list[str]) -> tuple[str, str] | None:
    """Take ``--flag value`` or ``--flag=value`` off the front of ``rest``."""
    flag, eq, value = rest.pop(0).partition("=")
    if not eq:
        if not rest or rest[0].startswith("-"):
            return None
        value = rest.pop(0)
    return flag, value


def run(call: Call) -> None:
    """Run a hot command as its Typer command would: same output, same errors, same exit codes."""
    from shipyard.cli import delivery
    from shipyard.cli.connection import Connection
    from shipyard.cli.session import Opts, print_error, use_folders

    commands: dict[str, Callable[..., None]] = {"rollback": delivery.rollback, "deploy": delivery.deploy}
    use_folders(call.home, call.app_dir)
    try:
        commands[call.command](Connection(Opts.home), **call.values)
    except ShipyardError as exc:
        print_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def main() -> None:
    call = parse(sys.argv[1:])
    if call is None:
        from shipyard.cli.main import main as full

        full()
    else:
        run(call)
