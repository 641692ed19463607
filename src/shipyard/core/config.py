"""Layered configuration: merge the layers, resolve ``#{Name}#`` tokens, check the rules. Pure.

Layers, later ones winning on the same key:

1. ``base``: the top-level ``config`` of shipyard.yaml;
2. ``environment``: ``environments.<env>.config``;
3. ``variable``: the control plane's own environment, ``SHIPYARD_CONFIG_<ENV>_<KEY>``
   (``<ENV>`` upper-cased, ``-`` written ``_``; when two environments' prefixes both match,
   the longer one owns the variable).

A ``#{Name}#`` token in a value is replaced by the configuration key ``Name`` (itself
resolved) or, if there is none, by the environment's secret ``Name``. Values that use a
secret are *sensitive*: they are masked wherever they are shown, and a release records
them as a template that still holds the secret's token, never the value.

Called by ``engine/delivery/config.py`` before each deployment, when an instance starts and for
``shipyard config show|diff``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from shipyard.errors import ManifestError

Layer = Literal["base", "environment", "variable"]
LAYERS: tuple[Layer, ...] = ("base", "environment", "variable")
TOKEN = re.compile(r"#\{([A-Za-z_][A-Za-z0-9_]*)\}#")
PREFIX = "SHIPYARD_CONFIG_"
MASK = "**********"
BOOLEANS = {"true", "false", "1", "0", "yes", "no"}


class Rule(Protocol):
    """A key's rule in ``config_schema`` (``manifest/config.py``'s ``ConfigRule``)."""

    @property
    def required(self) -> bool: ...

    @property
    def type(self) -> str:
        """string, integer, number, boolean or url."""

    @property
    def pattern(self) -> str | None: ...

    @property
    def layer(self) -> Layer | None:
        """The layer the value is expected from, named when it is missing."""


class SecretSource(Protocol):
    """What configuration needs of the vault: an environment's secrets, by name."""

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> Mapping[str, str]:
        """Current value of each secret of ``env``; ``purpose`` names the read in the audit log and
        ``actor`` who it is attributed to (the runtime, or the user whose request reads them)."""

    def value(self, env: str, name: str, purpose: str, actor: str = "runtime") -> str | None:
        """Current value of one secret of ``env`` (None if it has none), read and audited alone."""

    def versions(self, env: str) -> Mapping[str, int]:
        """Current version of each secret of ``env`` (recorded, never the value)."""


class NoSecrets:
    """The secret source when no vault is connected: no secrets at all."""

    def values(self, env: str, purpose: str = "", actor: str = "runtime") -> Mapping[str, str]:
        return {}

    def value(self, env: str, name: str, purpose: str, actor: str = "runtime") -> str | None:
        return None

    def versions(self, env: str) -> Mapping[str, int]:
        return {}


@dataclass(frozen=True)
class Setting:
    """One resolved configuration value and where it came from."""

    key: str
    value: str = field(repr=False)  # may hold a secret: never printed
    origin: str  # "config", "environments.prod.config" or "$SHIPYARD_CONFIG_PROD_KEY"
    layer: Layer
    template: str = field(repr=False)  # the value with secret tokens left in (safe to store)
    secrets: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        return MASK if self.secrets else self.value

    def record(self, versions: Mapping[str, int]) -> dict[str, Any]:
        """What a release keeps of this value: no secret value, only names and versions."""
        return {
            "value": self.template,
            "origin": self.origin,
            "secrets": {name: versions.get(name) for name in self.secrets},
        }


def origin_of(layer: Layer, env: str, key: str) -> str:
    if layer == "base":
        return "config"
    if layer == "environment":
        return f"environments.{env}.config"
    return f"${variable_name(env, key)}"


def variable_name(env: str, key: str) -> str:
    return f"{PREFIX}{env.upper().replace('-', '_')}_{key}"


def variables_for(env: str, environ: Mapping[str, str], envs: list[str]) -> dict[str, str]:
    """The ``SHIPYARD_CONFIG_<ENV>_<KEY>`` variables that belong to ``env``, by key."""
    tags = {e: f"{PREFIX}{e.upper().replace('-', '_')}_" for e in envs}
    mine = tags.get(env) or f"{PREFIX}{env.upper().replace('-', '_')}_"
    found: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(mine) or len(name) == len(mine):
            continue
        owner = max((e for e, tag in tags.items() if name.startswith(tag)), key=lambda e: len(tags[e]))
        if owner == env or env not in tags:
            found[name[len(mine) :]] = value
    return found


def resolve(
    env: str,
    base: Mapping[str, str],
    own: Mapping[str, str],
    variables: Mapping[str, str],
    secrets: Mapping[str, str],
    rules: Mapping[str, Rule],
) -> dict[str, Setting]:
    """Merge the layers of ``env``, resolve tokens and check ``rules``; raise listing every problem."""
    done, problems = resolve_partly(env, base, own, variables, secrets, rules)
    if problems:
        lines = "\n".join(f"  {p}" for p, _ in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ManifestError(f"configuration of {env}: {count}\n{lines}", problems[0][1])
    return done


def resolve_partly(
    env: str,
    base: Mapping[str, str],
    own: Mapping[str, str],
    variables: Mapping[str, str],
    secrets: Mapping[str, str],
    rules: Mapping[str, Rule],
    check_sensitive: bool = True,
) -> tuple[dict[str, Setting], list[tuple[str, str]]]:
    """What resolves, and each problem with its fix (for ``config show`` of a broken setup).

    With ``check_sensitive=False`` values that use a secret are not checked against ``rules``:
    for callers that pass secret *names* only (placeholders), so that showing or recording the
    configuration never reads a secret.
    """
    raw: dict[str, tuple[str, Layer]] = {}
    for layer, values in (("base", base), ("environment", own), ("variable", variables)):
        for key, value in values.items():
            raw[key] = (value, layer)  # type: ignore[assignment]
    problems: list[tuple[str, str]] = []
    done: dict[str, Setting] = {}

    def settle(key: str, chain: tuple[str, ...]) -> Setting | None:
        if key in done:
            return done[key]
        value, layer = raw[key]
        origin = origin_of(layer, env, key)
        out: list[str] = []
        template: list[str] = []
        used: list[str] = []
        pos = 0
        for match in TOKEN.finditer(value):
            out.append(value[pos : match.start()])
            template.append(value[pos : match.start()])
            pos = match.end()
            name = match.group(1)
            if name in chain:
                loop = " -> ".join((*chain[chain.index(name) :], name))
                problems.append((f"{key} (from {origin}) refers to itself: {loop}", "break the loop"))
                return None
            if name in raw:
                ref = settle(name, (*chain, name))
                if ref is None:
                    return None
                out.append(ref.value)
                template.append(ref.template)
                used.extend(ref.secrets)
            elif name in secrets:
                out.append(secrets[name])
                template.append(match.group(0))
                used.append(name)
            else:
                problems.append(
                    (
                        f"{key} (from {origin}): #{{{name}}}# names no configuration key or secret of {env}",
                        f"add {name} to config, or store it as a secret of {env} "
                        f"(`shipyard secrets set {env} {name}`)",
                    )
                )
                return None
        out.append(value[pos:])
        template.append(value[pos:])
        setting = Setting(key, "".join(out), origin, layer, "".join(template), tuple(dict.fromkeys(used)))
        done[key] = setting
        return setting

    for key in raw:
        settle(key, (key,))
    for key, rule in rules.items():
        if key in done and done[key].secrets and not check_sensitive:
            continue
        if key in done:
            problem = check_rule(done[key], rule)
            if problem:
                problems.append((problem, f"fix the value in {done[key].origin}"))
        elif rule.required and key in raw:
            continue  # its token problem is already reported
        elif rule.required:
            problems.append(
                (
                    f"config_schema.{key}: {key} is required in {env}, but no layer sets it",
                    f"set {key} in {where_to_set(rule, env, key)}",
                )
            )
    return done, problems


def where_to_set(rule: Rule, env: str, key: str) -> str:
    places = {
        "environment": f"environments.{env}.config",
        "base": "config (every environment)",
        "variable": f"the control plane's environment as ${variable_name(env, key)}",
    }
    if rule.layer is not None:
        return places[rule.layer]
    return ", or ".join(places[layer] for layer in ("environment", "base", "variable"))


def check_rule(setting: Setting, rule: Rule) -> str | None:
    """Why ``setting`` breaks ``rule``, or None. Sensitive values are never quoted."""
    value = setting.value
    shown = "its value (it uses a secret, not shown)" if setting.secrets else repr(value)
    where = f"{setting.key} = {shown} (from {setting.origin})"
    if not _typed(value, rule.type):
        return f"{where} is not {'an' if rule.type in ('integer', 'url') else 'a'} {rule.type}"
    if rule.pattern is not None and re.fullmatch(rule.pattern, value) is None:
        return f"{where} does not match the pattern {rule.pattern!r}"
    return None


def _typed(value: str, kind: str) -> bool:
    if kind == "integer":
        return re.fullmatch(r"[+-]?\d+", value.strip()) is not None
    if kind == "number":
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    if kind == "boolean":
        return value.strip().lower() in BOOLEANS
    if kind == "url":
        parsed = urlparse(value)
        return bool(parsed.scheme and parsed.netloc)
    return True


def materialize(recorded: Mapping[str, Any], secrets: Mapping[str, str], env: str) -> dict[str, str]:
    """The variables an instance gets from a release's recorded configuration of ``env``."""
    out: dict[str, str] = {}
    for key, entry in recorded.items():
        names = entry.get("secrets") or {}

        def fill(match: re.Match[str], names: Mapping[str, Any] = names, key: str = key) -> str:
            name = match.group(1)
            if name not in names:
                return match.group(0)
            if name not in secrets:
                raise ManifestError(
                    f"configuration of {env}: {key} uses the secret {name}, which {env} no longer has",
                    f"store it again with `shipyard secrets set {env} {name}` (or recover it)",
                )
            return secrets[name]

        out[key] = TOKEN.sub(fill, str(entry["value"]))
    return out


def diff(a: Mapping[str, Setting], b: Mapping[str, Setting]) -> list[dict[str, Any]]:
    """Keys whose value or origin differs between two resolved environments (masked)."""
    rows = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        same_value = left is not None and right is not None and left.template == right.template
        if same_value and left is not None and right is not None and left.secrets == right.secrets:
            continue
        rows.append({"key": key, "a": _side(left), "b": _side(right)})
    return rows


def _side(setting: Setting | None) -> dict[str, Any] | None:
    if setting is None:
        return None
    return {"value": setting.shown, "origin": setting.origin, "secrets": list(setting.secrets)}
