"""Triggers' pure part: branch rules, the hosts' signatures (right, wrong, missing) and their
push events read into a ``Push`` or a reason to start nothing."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from shipyard.core.triggers.branches import branch_of, deploy_target
from shipyard.core.triggers.hooks import Push, check_signature, read_push
from shipyard.errors import InputError, ManifestError
from shipyard.manifest.loader import parse_manifest

RULES = {"develop": "dev", "main": "staging", "release/*": "production", "release/hotfix": "staging"}
SHA = "a" * 40
SECRET = b"k3y"


@pytest.mark.parametrize(
    ("branch", "env"),
    [
        ("develop", "dev"),
        ("main", "staging"),
        ("release/1.2", "production"),
        ("release/hotfix", "staging"),  # an exact name wins over an earlier glob
        ("feature/x", None),
        ("mainline", None),
        ("release", None),
    ],
)
def test_branch_rules(branch: str, env: str | None) -> None:
    assert deploy_target(RULES, branch) == env


@pytest.mark.parametrize(
    ("ref", "branch"),
    [("refs/heads/main", "main"), ("refs/heads/release/1", "release/1"), ("refs/tags/v1", None),
     ("main", None), ("refs/heads/-x", None)],
)  # fmt: skip
def test_branch_of(ref: str, branch: str | None) -> None:
    assert branch_of(ref) == branch


def mac(body: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


BODY = b'{"ref": "refs/heads/main"}'


@pytest.mark.parametrize(
    ("provider", "headers", "verdict"),
    [
        ("github", {"x-hub-signature-256": "sha256=" + mac(BODY)}, "ok"),
        ("github", {"x-hub-signature-256": "sha256=" + mac(BODY, b"other")}, "wrong"),
        ("github", {"x-hub-signature-256": mac(BODY)}, "missing"),  # without its sha256= prefix
        ("github", {}, "missing"),
        ("gitea", {"x-gitea-signature": mac(BODY)}, "ok"),
        ("gitea", {"x-forgejo-signature": mac(BODY)}, "ok"),
        ("gitea", {"x-gitea-signature": mac(BODY + b" ")}, "wrong"),
        ("gitea", {}, "missing"),
        ("gitlab", {"x-gitlab-token": "k3y"}, "ok"),
        ("gitlab", {"x-gitlab-token": "k3y "}, "wrong"),
        ("gitlab", {}, "missing"),
    ],
)
def test_signatures(provider: str, headers: dict[str, str], verdict: str) -> None:
    assert check_signature(provider, SECRET, BODY, headers) == verdict


def event(**payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_a_github_push_is_read() -> None:
    body = event(
        ref="refs/heads/main", after=SHA, head_commit={"id": SHA, "message": "fix it\n\nbody"},
        repository={"clone_url": "https://git.example.com/a/b.git"},
    )  # fmt: skip
    assert read_push("github", body, {"x-github-event": "push"}) == Push(
        "main", SHA, "https://git.example.com/a/b.git", "fix it"
    )


def test_a_gitlab_push_takes_its_message_from_the_pushed_commit() -> None:
    body = event(
        ref="refs/heads/develop", after=SHA, project={"git_http_url": "https://gl/x.git"},
        commits=[{"id": "b" * 40, "message": "older"}, {"id": SHA, "message": "newest"}],
    )  # fmt: skip
    assert read_push("gitlab", body, {"x-gitlab-event": "Push Hook"}) == Push(
        "develop", SHA, "https://gl/x.git", "newest"
    )


@pytest.mark.parametrize(
    ("headers", "body", "said"),
    [
        ({"x-github-event": "ping"}, event(zen="hi"), "ping event"),
        ({"x-github-event": "push"}, event(ref="refs/tags/v1", after=SHA), "not a branch"),
        ({"x-github-event": "push"}, event(ref="refs/heads/main", after="0" * 40), "was deleted"),
    ],
)
def test_events_that_start_nothing(headers: dict[str, str], body: bytes, said: str) -> None:
    found = read_push("github", body, headers)
    assert isinstance(found, str) and said in found


@pytest.mark.parametrize(
    ("body", "said"),
    [(b"not json", "not JSON"), (b"[1]", "not a JSON object"),
     (event(ref="refs/heads/main", after="--upload-pack=x"), "is not a commit id")],
)  # fmt: skip
def test_malformed_push_events_are_refused(body: bytes, said: str) -> None:
    with pytest.raises(InputError, match=said):
        read_push("github", body, {"x-github-event": "push"})


def manifest(triggers: object) -> None:
    parse_manifest(
        {"app": "a", "processes": {"web": {"command": "run"}}, "environments": {"dev": {"port": 8001}},
         "triggers": triggers}
    )  # fmt: skip


def test_triggers_name_known_environments() -> None:
    manifest({"branches": {"main": "dev", "release/*": "dev"}, "webhook": {"secret": "HOOK"}})
    with pytest.raises(ManifestError, match=r"triggers\.branches\.main: unknown environment 'prod'"):
        manifest({"branches": {"main": "prod"}})
    with pytest.raises(ManifestError, match="not a branch name or glob"):
        manifest({"branches": {"-x": "dev"}})
