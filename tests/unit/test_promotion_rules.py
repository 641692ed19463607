"""Promotion path rules, its validation in shipyard.yaml, and the four-eyes rule. Tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.core.access import Grant, Principal
from shipyard.core.approval import WAITING, Request, check_decision, is_expired
from shipyard.core.promotion import Passed, check_promotion, check_rollback, next_env, previous_env
from shipyard.core.records import NewDeployment, Owner, Release
from shipyard.errors import ConflictError, ForbiddenError, LockHeldError, ManifestError
from shipyard.manifest.loader import parse_manifest
from shipyard.state.store import StateStore, open_store

PATH = ("dev", "test", "staging", "production")


def test_neighbours_on_the_path() -> None:
    assert previous_env(PATH, "dev") is None and previous_env(PATH, "staging") == "test"
    assert next_env(PATH, "staging") == "production" and next_env(PATH, "production") is None


@pytest.mark.parametrize(
    ("history", "allowed"),
    [
        ([Passed("production", "r1", "succeeded")], True),  # it served production: may return
        ([Passed("production", "r1", "failed"), Passed("production", "r1", "succeeded")], True),
        ([], False),  # never deployed there
        ([Passed("staging", "r1", "succeeded")], False),  # served another environment only
        ([Passed("production", "r1", "failed")], False),  # never reached production's traffic
        ([Passed("production", "r1", "rolled_back"), Passed("production", "r2", "succeeded")], False),
    ],
)
def test_rollback_targets_only_a_release_that_served_the_environment(
    history: list[Passed], allowed: bool
) -> None:
    if allowed:
        check_rollback("production", "r1", history)
        return
    with pytest.raises(ConflictError) as refused:
        check_rollback("production", "r1", history)
    assert "r1 never served production" in refused.value.message
    assert "shipyard promote r1 --to production" in refused.value.hint


@pytest.mark.parametrize(
    ("target", "history", "require", "result"),
    [
        ("dev", [], True, None),  # the first environment takes any release
        ("test", [Passed("dev", "r3", "succeeded")], True, "dev"),
        ("test", [Passed("dev", "r3", "failed"), Passed("dev", "r3", "succeeded")], True, "dev"),
        ("test", [], False, "dev"),  # require_previous: false
        ("production", [Passed("staging", "r3", "succeeded")], True, "staging"),
    ],
)
def test_allowed_promotions(target: str, history: list[Passed], require: bool, result: str | None) -> None:
    assert check_promotion(PATH, require, target, "r3", history) == result


@pytest.mark.parametrize(
    ("target", "history", "message"),
    [
        ("test", [], "r3 must pass dev before test: it was never deployed to dev"),
        (
            "test",
            [Passed("dev", "r3", "failed")],
            "r3 must pass dev before test: its deployments there ended failed",
        ),
        ("test", [Passed("dev", "r2", "succeeded")], "it was never deployed to dev"),  # another release
        ("production", [Passed("dev", "r3", "succeeded")], "r3 must pass staging before production"),
        ("test", [Passed("test", "r3", "succeeded")], "must pass dev"),  # the target itself is not enough
    ],
)
def test_refused_promotions_name_the_environment_to_pass(
    target: str, history: list[Passed], message: str
) -> None:
    with pytest.raises(ConflictError) as info:
        check_promotion(PATH, True, target, "r3", history)
    assert message in info.value.message
    assert "shipyard promote r3 --to" in info.value.hint


def test_targets_off_the_path_or_without_a_path() -> None:
    with pytest.raises(ConflictError, match="qa is not on the promotion path"):
        check_promotion(PATH, True, "qa", "r1", [])
    with pytest.raises(ManifestError, match="no promotion path"):
        check_promotion(None, True, "dev", "r1", [])


def manifest(**extra: Any) -> dict[str, Any]:
    return {
        "app": "demo",
        "processes": {"web": {"command": "run"}},
        "environments": {"dev": {"port": 8080}, "staging": {"port": 8081}, "production": {"port": 8082}},
        **extra,
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"promotion": ["dev", "stagin", "production"]}, "promotion.path[1]: 'stagin' is not an environment"),
        ({"promotion": ["dev", "stagin"]}, "did you mean 'staging'?"),
        ({"promotion": ["dev"]}, "path needs at least two environments"),
        ({"promotion": ["dev", "staging", "dev"]}, "path[2]: 'dev' is on the path twice"),
        ({"promotion": {"path": ["dev", "staging"], "require": True}}, "unknown key 'require'"),
        ({"config": {"bad-key": "x"}}, "config key 'bad-key' is not a variable name"),
        ({"config": {"A": "x"}, "env": {"A": "y"}}, "A set both as config and as env"),
        ({"config": {"PORT": "1"}}, "config key PORT is Shipyard's own variable"),
        ({"config_schema": {"SHIPYARD_ENV": {}}}, "config key SHIPYARD_ENV is Shipyard's own variable"),
        ({"config_schema": {"A": {"pattern": "("}}}, "pattern '(' is not a valid regular expression"),
        ({"config_schema": {"A": {"type": "int"}}}, "config_schema.A.type"),
        ({"config": {"A": ["x"]}}, "a config value is a string, number or boolean"),
    ],
)
def test_bad_delivery_keys_are_reported_with_their_path(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(manifest(**extra))
    assert message in info.value.message


def test_promotion_shorthand_approval_defaults_and_scalar_values() -> None:
    m = parse_manifest(
        manifest(
            promotion=["dev", "staging", "production"],
            config={"WORKERS": 4, "DEBUG": False, "RATIO": 0.5},
            environments={
                "dev": {"port": 8080},
                "staging": {"port": 8081},
                "production": {"port": 8082, "approval": {"expires": "2h"}},
            },
        )
    )
    assert m.promotion is not None and m.promotion.require_previous is True
    assert m.promotion.path == ("dev", "staging", "production")
    approval = m.environments["production"].approval
    assert approval is not None and approval.required and approval.expires == 7200
    assert m.config == {"WORKERS": "4", "DEBUG": "false", "RATIO": "0.5"}


# the four-eyes rule ---------------------------------------------------------------------------


def who(user: str, *grants: tuple[str, str]) -> Principal:
    return Principal(user, tuple(Grant(role, env) for role, env in grants))  # type: ignore[arg-type]


def waiting(**changes: Any) -> Request:
    base: dict[str, Any] = {
        "deployment_id": 7,
        "env": "production",
        "requested_by": "alice",
        "requested_at": 100.0,
        "expires_at": 200.0,
        "status": WAITING,
    }
    return Request(**(base | changes))


@pytest.mark.parametrize(
    ("principal", "verb", "request_", "now", "error", "message"),
    [
        (who("bob", ("approver", "production")), "approve", waiting(), 150.0, None, ""),
        (who("bob", ("admin", "*")), "approve", waiting(), 150.0, None, ""),
        (who("bob", ("approver", "production")), "reject", waiting(), 150.0, None, ""),
        (
            who("alice", ("approver", "production"), ("deployer", "production")),
            "approve",
            waiting(),
            150.0,
            ForbiddenError,
            "alice requested deployment 7 and cannot approve it too (four-eyes rule)",
        ),
        (who("alice", ("admin", "*")), "approve", waiting(), 150.0, ForbiddenError, "four-eyes rule"),
        (who("alice", ("approver", "production")), "reject", waiting(), 150.0, None, ""),  # withdrawing
        (
            who("bob", ("approver", "staging")),
            "approve",
            waiting(),
            150.0,
            ForbiddenError,
            "user 'bob' may not approve in environment 'production'",
        ),
        (
            who("dana", ("deployer", "*")),
            "approve",
            waiting(),
            150.0,
            ForbiddenError,
            "may not approve",
        ),
        (
            who("bob", ("approver", "production")),
            "approve",
            waiting(),
            200.0,
            ConflictError,
            "the approval request of deployment 7 expired",
        ),
        (
            who("bob", ("approver", "production")),
            "approve",
            waiting(status="rejected", decision="rejected", decided_by="carol"),
            150.0,
            ConflictError,
            "deployment 7 is not waiting for approval: it is rejected by carol",
        ),
    ],
)
def test_who_may_decide(
    principal: Principal,
    verb: str,
    request_: Request,
    now: float,
    error: type[Exception] | None,
    message: str,
) -> None:
    if error is None:
        check_decision(principal, request_, verb, now)
        return
    with pytest.raises(error) as info:
        check_decision(principal, request_, verb, now)
    assert message in str(getattr(info.value, "message", info.value))


def test_expiry() -> None:
    assert not is_expired(waiting(), 199.9) and is_expired(waiting(), 200.0)
    assert not is_expired(waiting(status="running"), 500.0)


# approvals in the state store -------------------------------------------------------------------


def store_with_releases(path: Path) -> StateStore:
    store = open_store(path)
    for n in (1, 2):
        store.add_release(Release(f"r{n}", n, 1.0, "sum", "deps", f"/r{n}", "app: demo", "."))
    return store


def test_a_waiting_deployment_holds_no_lock_until_approved(tmp_path: Path) -> None:
    store = store_with_releases(tmp_path / "state.db")
    me = Owner(1, 1.0)
    first, _ = store.approvals.request(NewDeployment("production", "promote", "alice", "r1"), 1e12)
    assert store.lock("production") is None
    assert store.deployment(first).status == WAITING
    dep, superseded = store.approvals.request(NewDeployment("production", "promote", "alice", "r2"), 1e12)
    assert superseded == [first] and store.deployment(first).status == "superseded"
    rollback = store.begin_deployment(NewDeployment("production", "rollback", "carol"), me)  # not blocked
    with pytest.raises(LockHeldError, match="stays waiting"):
        store.approvals.approve(dep, "bob", me)
    assert store.deployment(dep).status == WAITING
    store.finish_deployment(rollback, "succeeded")
    store.approvals.approve(dep, "bob", me)
    done = store.deployment(dep)
    assert done.status == "running" and store.lock("production") is not None
    assert done.approval is not None and done.approval["decided_by"] == "bob"
    assert done.approval["decision"] == "approved" and done.approval["requested_by"] == "alice"


def test_rejection_and_expiry_end_the_request(tmp_path: Path) -> None:
    store = store_with_releases(tmp_path / "state.db")
    a, _ = store.approvals.request(NewDeployment("production", "promote", "alice", "r1"), 1e12)
    store.approvals.reject(a, "bob", "not during the sale")
    rejected = store.deployment(a)
    assert rejected.status == "rejected" and rejected.error == "rejected by bob: not during the sale"
    b, _ = store.approvals.request(NewDeployment("staging", "promote", "alice", "r1"), 50.0)
    assert [r.deployment_id for r in store.approvals.expire(now=49.0)] == []
    assert [r.deployment_id for r in store.approvals.expire(now=51.0)] == [b]
    assert store.deployment(b).status == "expired" and store.approvals.waiting() == []
    store.close()
    reopened = open_store(tmp_path / "state.db")  # decisions survive a restart
    assert reopened.deployment(b).approval["decision"] == "expired"  # type: ignore[index]


def test_environments_have_their_own_data_folders(tmp_path: Path) -> None:
    from shipyard.home import Paths

    envs = {
        "dev": {"port": 8080, "data_dir": "dev-data"},
        "staging": {"port": 8081, "data_dir": "./dev-data"},
    }
    with pytest.raises(ManifestError, match=r"environments dev and staging both use data_dir '\./dev-data'"):
        parse_manifest(manifest(environments=envs))
    m = parse_manifest(
        manifest(environments={"dev": {"port": 8080, "data_dir": "/srv/dev"}, "qa": {"port": 8081}})
    )
    paths = Paths(tmp_path, tmp_path)
    assert paths.env_data("dev", m.environments["dev"].data_dir) == Path("/srv/dev")
    assert paths.env_data("qa", m.environments["qa"].data_dir) == tmp_path / "envs" / "qa" / "data"
