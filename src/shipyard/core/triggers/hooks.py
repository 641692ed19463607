"""Push events of GitHub, GitLab and Gitea/Forgejo: their signature checked, their push read.

Pure: ``server/triggers.py`` hands the raw body and headers here before it believes a byte.
GitHub signs the body with HMAC-SHA256 (``X-Hub-Signature-256: sha256=<hex>``), Gitea and
Forgejo too (``X-Gitea-Signature``/``X-Forgejo-Signature: <hex>``); GitLab sends the shared
secret itself (``X-Gitlab-Token``). Every comparison is in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shipyard.core.triggers.branches import SHA, ZERO, branch_of
from shipyard.errors import InputError

PROVIDERS = ("github", "gitlab", "gitea")
Signature = Literal["ok", "missing", "wrong"]
EVENT_HEADER = {"github": "x-github-event", "gitlab": "x-gitlab-event", "gitea": "x-gitea-event"}
PUSH_EVENT = {"github": "push", "gitlab": "Push Hook", "gitea": "push"}


@dataclass(frozen=True)
class Push:
    branch: str
    sha: str
    repository: str  # the clone URL the event names ("" when it names none)
    message: str  # the pushed commit's first line ("" when unknown)


def check_signature(provider: str, secret: bytes, body: bytes, headers: Mapping[str, str]) -> Signature:
    """Whether ``body`` carries ``provider``'s proof of ``secret`` (headers' names in lowercase)."""
    if provider == "gitlab":
        given = headers.get("x-gitlab-token")
        return "missing" if not given else _same(given.encode(), secret)
    if provider == "github":
        raw = headers.get("x-hub-signature-256", "")
        given = raw.removeprefix("sha256=") if raw.startswith("sha256=") else ""
    else:
        given = headers.get("x-gitea-signature") or headers.get("x-forgejo-signature") or ""
    if not given:
        return "missing"
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return _same(given.strip().lower().encode(), expected.encode())


def _same(given: bytes, expected: bytes) -> Signature:
    return "ok" if hmac.compare_digest(given, expected) else "wrong"


def read_push(provider: str, body: bytes, headers: Mapping[str, str]) -> Push | str:
    """The push a signed event announces, or why it starts nothing (a ping, a tag, a deletion)."""
    event = headers.get(EVENT_HEADER[provider], "")
    if event != PUSH_EVENT[provider]:
        return f"{event or 'an unnamed'} event: only push events start a build"
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InputError(
            "the push event's body is not JSON", "set the webhook's content type to application/json"
        ) from None
    if not isinstance(payload, dict):
        raise InputError("the push event's body is not a JSON object", "send the host's push event")
    branch = branch_of(str(payload.get("ref", "")))
    sha = str(payload.get("after") or payload.get("checkout_sha") or "")
    if branch is None:
        return f"ref {str(payload.get('ref'))[:100]!r} is not a branch: only branch pushes start a build"
    if ZERO.match(sha):
        return f"branch {branch} was deleted: nothing to build"
    if not SHA.match(sha):
        raise InputError(
            f"the push event's `after` {sha[:80]!r} is not a commit id", "send the host's push event"
        )
    return Push(branch, sha, _clone_url(payload), _message(payload, sha))


def _clone_url(payload: dict[str, Any]) -> str:
    for holder in ("repository", "project"):
        found = payload.get(holder)
        if isinstance(found, dict):
            for key in ("clone_url", "git_http_url"):
                if isinstance(found.get(key), str):
                    return str(found[key])
    return ""


def _message(payload: dict[str, Any], sha: str) -> str:
    head = payload.get("head_commit")
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
    found = head if isinstance(head, dict) else next((c for c in commits if c.get("id") == sha), None)
    text = str(found.get("message", "")) if found else ""
    return text.strip().splitlines()[0][:300] if text.strip() else ""
