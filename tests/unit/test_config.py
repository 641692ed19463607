"""The configuration resolver: layers, origins, tokens, rules, masking, variables. Tables."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.config import MASK, diff, materialize, resolve, variables_for
from shipyard.errors import ManifestError
from shipyard.manifest.config import ConfigRule

SECRETS = {"DB_PASSWORD": "hunter2-very-secret"}


def run(
    base: dict[str, str] | None = None,
    own: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    rules: dict[str, dict[str, Any]] | None = None,
    secrets: dict[str, str] | None = None,
) -> dict[str, tuple[str, str]]:
    done = resolve(
        "prod",
        base or {},
        own or {},
        variables or {},
        SECRETS if secrets is None else secrets,
        {k: ConfigRule.model_validate(v) for k, v in (rules or {}).items()},
    )
    return {k: (s.value, s.origin) for k, s in done.items()}


@pytest.mark.parametrize(
    ("base", "own", "variables", "expected"),
    [
        ({"A": "1"}, {}, {}, {"A": ("1", "config")}),
        ({"A": "1"}, {"A": "2"}, {}, {"A": ("2", "environments.prod.config")}),
        ({"A": "1"}, {"A": "2"}, {"A": "3"}, {"A": ("3", "$SHIPYARD_CONFIG_PROD_A")}),
        ({"A": "1"}, {}, {"B": "x"}, {"A": ("1", "config"), "B": ("x", "$SHIPYARD_CONFIG_PROD_B")}),
        (
            {"HOST": "db", "URL": "pg://#{HOST}#/app"},
            {"HOST": "db-prod"},
            {},
            {
                "HOST": ("db-prod", "environments.prod.config"),
                "URL": ("pg://db-prod/app", "config"),
            },
        ),
        (
            {"A": "#{B}#-#{B}#", "B": "#{C}#", "C": "c"},
            {},
            {},
            {
                "A": ("c-c", "config"),
                "B": ("c", "config"),
                "C": ("c", "config"),
            },
        ),
        ({"A": "no tokens #{ here"}, {}, {}, {"A": ("no tokens #{ here", "config")}),
    ],
)
def test_layers_win_in_order_and_tokens_resolve(
    base: dict[str, str], own: dict[str, str], variables: dict[str, str], expected: dict[str, Any]
) -> None:
    assert run(base, own, variables) == expected


def test_a_secret_token_is_resolved_but_masked_and_kept_as_a_template() -> None:
    done = resolve("prod", {"URL": "pg://app:#{DB_PASSWORD}#@db/app"}, {}, {}, SECRETS, {})
    url = done["URL"]
    assert url.value == "pg://app:hunter2-very-secret@db/app"
    assert url.shown == MASK and url.secrets == ("DB_PASSWORD",)
    assert "hunter2" not in repr(url)
    record = url.record({"DB_PASSWORD": 3})
    assert record == {
        "value": "pg://app:#{DB_PASSWORD}#@db/app",
        "origin": "config",
        "secrets": {"DB_PASSWORD": 3},
    }
    assert "hunter2" not in str(record)
    assert materialize({"URL": record}, SECRETS, "prod") == {"URL": url.value}


def test_a_key_that_uses_a_secret_through_another_key_is_sensitive_too() -> None:
    done = resolve("prod", {"PW": "#{DB_PASSWORD}#", "URL": "pg://#{PW}#@db"}, {}, {}, SECRETS, {})
    assert done["URL"].secrets == ("DB_PASSWORD",) and done["URL"].shown == MASK
    assert done["URL"].template == "pg://#{DB_PASSWORD}#@db"


def test_configuration_keys_take_precedence_over_secrets_of_the_same_name() -> None:
    assert run({"DB_PASSWORD": "plain", "A": "#{DB_PASSWORD}#"})["A"] == ("plain", "config")


def test_a_secret_that_is_gone_at_start_is_a_clear_error() -> None:
    record = {"URL": {"value": "x#{DB_PASSWORD}#", "origin": "config", "secrets": {"DB_PASSWORD": 1}}}
    with pytest.raises(ManifestError) as info:
        materialize(record, {}, "prod")
    assert "URL uses the secret DB_PASSWORD, which prod no longer has" in info.value.message


@pytest.mark.parametrize(
    ("base", "own", "variables", "rules", "message", "hint"),
    [
        (
            {},
            {},
            {},
            {"DATABASE_URL": {}},
            "config_schema.DATABASE_URL: DATABASE_URL is required in prod, but no layer sets it",
            "set DATABASE_URL in environments.prod.config, or config (every environment), or the control "
            "plane's environment as $SHIPYARD_CONFIG_PROD_DATABASE_URL",
        ),
        (
            {},
            {},
            {},
            {"TOKEN": {"layer": "variable"}},
            "TOKEN is required in prod, but no layer sets it",
            "set TOKEN in the control plane's environment as $SHIPYARD_CONFIG_PROD_TOKEN",
        ),
        (
            {"WORKERS": "four"},
            {},
            {},
            {"WORKERS": {"type": "integer"}},
            "WORKERS = 'four' (from config) is not an integer",
            "fix the value in config",
        ),
        (
            {},
            {"RATIO": "x"},
            {},
            {"RATIO": {"type": "number"}},
            "RATIO = 'x' (from environments.prod.config) is not a number",
            "fix the value in environments.prod.config",
        ),
        (
            {},
            {},
            {"DEBUG": "maybe"},
            {"DEBUG": {"type": "boolean"}},
            "DEBUG = 'maybe' (from $SHIPYARD_CONFIG_PROD_DEBUG) is not a boolean",
            "fix the value in $SHIPYARD_CONFIG_PROD_DEBUG",
        ),
        (
            {"API": "localhost"},
            {},
            {},
            {"API": {"type": "url"}},
            "API = 'localhost' (from config) is not an url",
            "fix the value in config",
        ),
        (
            {"REGION": "mars-1"},
            {},
            {},
            {"REGION": {"pattern": "eu-[a-z]+-[0-9]"}},
            "REGION = 'mars-1' (from config) does not match the pattern 'eu-[a-z]+-[0-9]'",
            "fix the value in config",
        ),
        (
            {"A": "#{NOPE}#"},
            {},
            {},
            {},
            "A (from config): #{NOPE}# names no configuration key or secret of prod",
            "add NOPE to config, or store it as a secret of prod (`shipyard secrets set prod NOPE`)",
        ),
        (
            {"A": "#{B}#", "B": "#{A}#"},
            {},
            {},
            {},
            "refers to itself: A -> B -> A",
            "break the loop",
        ),
    ],
)
def test_bad_configuration_names_the_key_and_the_layer(
    base: dict[str, str],
    own: dict[str, str],
    variables: dict[str, str],
    rules: dict[str, dict[str, Any]],
    message: str,
    hint: str,
) -> None:
    with pytest.raises(ManifestError) as info:
        run(base, own, variables, rules)
    assert message in info.value.message
    assert info.value.hint == hint


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("42", "integer", True),
        ("-3", "integer", True),
        ("4.2", "integer", False),
        ("4.2", "number", True),
        ("nan", "number", False),
        ("1e3", "number", True),
        ("true", "boolean", True),
        ("No", "boolean", True),
        ("2", "boolean", False),
        ("https://x.example/a", "url", True),
        ("postgres://u@db/app", "url", True),
        ("x", "url", False),
        ("anything", "string", True),
    ],
)
def test_types(value: str, kind: str, ok: bool) -> None:
    rules = {"K": {"type": kind}}
    if ok:
        assert run({"K": value}, rules=rules)["K"][0] == value
    else:
        with pytest.raises(ManifestError):
            run({"K": value}, rules=rules)


def test_a_malformed_secret_value_is_never_quoted() -> None:
    with pytest.raises(ManifestError) as info:
        run({"URL": "#{DB_PASSWORD}#"}, rules={"URL": {"type": "url"}})
    assert "hunter2" not in info.value.message + info.value.hint
    assert "it uses a secret, not shown" in info.value.message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ManifestError) as info:
        run({"W": "x"}, rules={"W": {"type": "integer"}, "DB": {}})
    assert "2 problems" in info.value.message
    assert "W = 'x'" in info.value.message and "DB is required" in info.value.message


def test_optional_rules_check_only_present_values() -> None:
    assert run({}, rules={"W": {"required": False, "type": "integer"}}) == {}
    with pytest.raises(ManifestError):
        run({"W": "x"}, rules={"W": {"required": False, "type": "integer"}})


@pytest.mark.parametrize(
    ("env", "environ", "expected"),
    [
        ("prod", {"SHIPYARD_CONFIG_PROD_A": "1", "OTHER": "x"}, {"A": "1"}),
        ("prod", {"SHIPYARD_CONFIG_DEV_A": "1"}, {}),
        ("prod-eu", {"SHIPYARD_CONFIG_PROD_EU_A": "1"}, {"A": "1"}),
        ("prod", {"SHIPYARD_CONFIG_PROD_EU_A": "1"}, {}),  # the longer prefix (prod-eu) owns it
        ("prod", {"SHIPYARD_CONFIG_PROD_": "1"}, {}),
    ],
)
def test_variables_belong_to_one_environment(
    env: str, environ: dict[str, str], expected: dict[str, str]
) -> None:
    assert variables_for(env, environ, ["dev", "prod", "prod-eu"]) == expected


def test_diff_lists_changed_keys_with_secrets_masked() -> None:
    a = resolve("a", {"L": "info", "S": "#{DB_PASSWORD}#", "X": "same"}, {}, {}, SECRETS, {})
    b = resolve("b", {"L": "info", "X": "same"}, {"L": "debug", "S": "plain"}, {}, SECRETS, {})
    rows = diff(a, b)
    assert [r["key"] for r in rows] == ["L", "S"]
    assert rows[1]["a"]["value"] == MASK and rows[1]["b"]["value"] == "plain"
    assert "hunter2" not in str(rows)


def test_resolving_with_secret_names_only_skips_the_rules_of_sensitive_values() -> None:
    from shipyard.core.config import resolve_partly

    rules = {"URL": ConfigRule(type="url"), "W": ConfigRule(type="integer")}
    base = {"URL": "#{DB_PASSWORD}#", "W": "x"}
    done, problems = resolve_partly("prod", base, {}, {}, {"DB_PASSWORD": ""}, rules, check_sensitive=False)
    assert done["URL"].template == "#{DB_PASSWORD}#" and done["URL"].shown == MASK
    assert [p for p, _ in problems] == ["W = 'x' (from config) is not an integer"]
