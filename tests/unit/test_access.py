"""Roles, grants and the deny-by-default decision: the whole role matrix."""

from __future__ import annotations

import pytest

from shipyard.core.access import (
    ROLES,
    Grant,
    Principal,
    check_role,
    check_user_name,
    decide,
    token_hash,
    token_id,
)
from shipyard.errors import ForbiddenError, InputError

# role -> permissions it grants
SECRETS = {"secrets-list", "secrets-read", "secrets-write", "secrets-purge"}
MATRIX = {
    "viewer": {"read", "secrets-list"},
    "deployer": {"read", "deploy", "secrets-list"},
    "approver": {"read", "approve", "secrets-list"},
    "secrets-reader": {"read", "secrets-list", "secrets-read"},
    "secrets-writer": {"read", "secrets-list", "secrets-read", "secrets-write"},
    "admin": {"read", "deploy", "approve", "lock", "admin"} | SECRETS,
}
ACTIONS = ("read", "deploy", "approve", "lock", "admin", *sorted(SECRETS))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_matrix_on_the_granted_environment(role: str, action: str) -> None:
    who = Principal("dana", (Grant(check_role(role), "staging"),))
    assert who.may(action, "staging") == (action in MATRIX[role])
    # never on another environment, never on "all environments"
    assert not who.may(action, "production")
    assert not who.may(action, None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_a_grant_on_star_covers_every_environment(role: str, action: str) -> None:
    who = Principal("dana", (Grant(check_role(role), "*"),))
    for env in ("dev", "production", None):
        assert who.may(action, env) == (action in MATRIX[role])


def test_no_grant_denies_everything() -> None:
    nobody = Principal("eve", ())
    assert not any(nobody.may(a, e) for a in ACTIONS for e in ("dev", None))


def test_grants_add_up() -> None:
    who = Principal("dana", (Grant("viewer", "*"), Grant("deployer", "dev")))
    assert who.may("deploy", "dev") and not who.may("deploy", "production")
    assert who.readable_envs(["dev", "production"]) == ["dev", "production"]


def test_refusal_names_user_action_place_and_the_grant_to_ask_for() -> None:
    who = Principal("vic", (Grant("viewer", "dev"),))
    with pytest.raises(ForbiddenError) as caught:
        decide(who, "deploy", "production")
    assert caught.value.status == 403
    assert "user 'vic' may not deploy in environment 'production'" in caught.value.message
    assert "viewer on dev" in caught.value.message
    assert (
        caught.value.hint
        == "an admin can grant it: `shipyard users grant vic --role deployer --env production`"
    )
    with pytest.raises(ForbiddenError, match=r"every environment \(a grant on '\*'\)"):
        decide(who, "admin", None)
    decide(who, "read", "dev")  # allowed: no exception


@pytest.mark.parametrize("name", ["", "Dana", "1dana", "da na", "x" * 41, "shipyard", "runtime"])
def test_bad_user_names_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="invalid user name"):
        check_user_name(name)


def test_unknown_role_lists_the_roles() -> None:
    with pytest.raises(InputError) as caught:
        check_role("root")
    roles = "viewer, deployer, approver, secrets-reader, secrets-writer, admin"
    assert caught.value.hint == f"use one of: {roles}"


def test_tokens_are_stored_as_hashes_with_a_public_id() -> None:
    assert token_hash("sy_abc") != token_hash("sy_abd")
    assert len(token_hash("sy_abc")) == 64 and "sy_abc" not in token_hash("sy_abc")
    assert token_id("sy_abc").startswith("tk_") and token_id("sy_abc") == token_id("sy_abc")
