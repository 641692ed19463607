"""The dashboard's sessions and CSRF checks without a browser: the session store itself, and the
login, logout, pages and a form action on a real ASGI app over a real SQLite store (the access
service, roles and audit log are the real ones; only the deployment being approved is a stub)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shipyard.core.access import Principal
from shipyard.engine.engine import Engine
from shipyard.engine.trust.access import Access
from shipyard.errors import ForbiddenError
from shipyard.server.answers import install_handlers
from shipyard.server.dashboard.login import safe_next
from shipyard.server.dashboard.routes import register_dashboard
from shipyard.server.dashboard.sessions import Session, Sessions, csrf_matches, digest
from shipyard.server.gate import Gate
from shipyard.state.store import StateStore, open_store

DANA, VIC = "sy_dana-laptop", "sy_vic-laptop"  # an approver and a viewer on dev


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_ends_when_idle_or_too_old_and_its_id_is_kept_only_hashed() -> None:
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    sid, session = sessions.create(DANA)
    assert sid not in repr(vars(sessions)) and digest(sid) in sessions._by_hash
    assert DANA not in repr(session)
    clock.now += 59
    assert sessions.get(sid) is session  # and its idle clock starts again
    clock.now += 59
    assert sessions.get(sid) is session
    clock.now += 61
    assert sessions.get(sid) is None and len(sessions) == 0
    sid, _ = sessions.create(DANA)
    for _ in range(6):  # busy, but past its lifetime
        clock.now += 55
        found = sessions.get(sid)
    assert found is None
    assert sessions.get("") is None and sessions.get("not-a-session") is None


def test_a_dropped_session_is_gone() -> None:
    sessions = Sessions()
    sid, _ = sessions.create(DANA)
    sessions.drop(sid)
    assert sessions.get(sid) is None


@pytest.mark.parametrize(
    ("given", "ok"),
    [("the-token", True), ("", False), ("the-token ", False), ("other", False), ("THE-TOKEN", False)],
)
def test_csrf_tokens_must_match_exactly(given: str, ok: bool) -> None:
    session = Session(token=DANA, csrf="the-token", created=0, seen=0)
    assert csrf_matches(session, given) is ok


@pytest.mark.parametrize(
    ("wanted", "goes"),
    [
        ("/releases", "/releases"),
        ("/deployments/3?x=1", "/deployments/3?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ],
)
def test_after_login_only_a_path_of_this_site(wanted: str, goes: str) -> None:
    assert safe_next(wanted) == goes


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = open_store(tmp_path / "state.db")
    for name, role, token in (("dana", "approver", DANA), ("vic", "viewer", VIC)):
        store.identity.add_user(name, by="admin")
        store.identity.grant(name, role, "dev", by="admin")
        store.identity.add_token(name, token, "laptop")
    return store


class Approvals:
    def __init__(self) -> None:
        self.approved: list[tuple[str, int]] = []

    def approve(self, who: Principal, dep_id: int) -> None:
        self.approved.append((who.user, dep_id))


def dashboard(store: StateStore, base_url: str = "http://testserver") -> tuple[TestClient, Approvals]:
    approvals = Approvals()
    engine = SimpleNamespace(
        access=Access(store, lambda: ["dev"]),
        approvals=approvals,
        history=SimpleNamespace(
            waiting_approval=lambda: [],
            deployment=lambda dep_id: SimpleNamespace(env="dev", id=dep_id),
        ),
    )
    app = FastAPI()
    install_handlers(app)
    app.state.engine = engine
    register_dashboard(app, cast(Engine, engine))
    app.add_middleware(Gate, engine=cast(Engine, engine))
    return TestClient(app, base_url=base_url, follow_redirects=False), approvals


def hidden_csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, token: str) -> Any:
    form = client.get("/login?next=/approvals")
    return client.post("/login", data={"csrf": hidden_csrf(form.text), "token": token, "next": "/approvals"})


def audit(store: StateStore) -> list[tuple[str, str, str]]:
    """The audit log's entries of actions (sign-ins and sign-outs left out)."""
    entries = store.audit.entries()
    return [(e.actor, e.action, e.result) for e in entries if not e.action.startswith("dashboard.")]


def test_without_a_session_a_page_sends_to_login(store: StateStore) -> None:
    client, _ = dashboard(store)
    answer = client.get("/approvals")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fapprovals"
    assert client.post("/deployments/1/approve", data={"csrf": "x"}).status_code == 303


def test_login_exchanges_a_token_for_a_strict_httponly_cookie(store: StateStore) -> None:
    client, _ = dashboard(store)
    answer = sign_in(client, DANA)
    assert answer.status_code == 303 and answer.headers["location"] == "/approvals"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("sy_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert DANA not in cookie
    page = client.get("/approvals")
    assert page.status_code == 200 and "dana" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_over_tls_the_cookie_is_secure(store: StateStore) -> None:
    client, _ = dashboard(store, base_url="https://testserver")
    answer = sign_in(client, DANA)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("sy_session="))
    assert "Secure" in cookie


def test_login_refuses_a_wrong_token_and_a_form_from_elsewhere(store: StateStore) -> None:
    client, _ = dashboard(store)
    assert sign_in(client, "sy_wrong").status_code == 401
    forged = client.post("/login", data={"csrf": "guessed", "token": DANA})
    assert forged.status_code == 403 and "sy_session" not in forged.headers.get("set-cookie", "")
    assert client.get("/approvals").status_code == 303


def test_an_action_needs_the_sessions_csrf_token_then_is_decided_and_audited(store: StateStore) -> None:
    client, approvals = dashboard(store)
    sign_in(client, DANA)
    csrf = hidden_csrf(client.get("/approvals").text)
    for forged in ({}, {"csrf": ""}, {"csrf": csrf[:-1]}):
        assert client.post("/deployments/7/approve", data=forged).status_code == 403
    assert approvals.approved == [] and audit(store) == []
    done = client.post("/deployments/7/approve", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/deployments/7"
    assert approvals.approved == [("dana", 7)]
    assert audit(store) == [("dana", "approve", "ok")]


def test_a_role_that_may_not_is_refused_and_the_refusal_audited(store: StateStore) -> None:
    client, approvals = dashboard(store)
    sign_in(client, VIC)
    csrf = hidden_csrf(client.get("/approvals").text)
    refused = client.post("/deployments/7/approve", data={"csrf": csrf})
    assert refused.status_code == 403 and "may not approve" in refused.text
    assert approvals.approved == [] and audit(store) == [("vic", "approve", "denied")]


def test_logout_and_a_revoked_token_end_the_session(store: StateStore) -> None:
    client, _ = dashboard(store)
    sign_in(client, DANA)
    csrf = hidden_csrf(client.get("/approvals").text)
    assert client.post("/logout", data={}).status_code == 403  # logout is a form like any other
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/approvals").status_code == 303
    sign_in(client, DANA)
    assert client.get("/approvals").status_code == 200
    store.identity.revoke_token(store.identity.principal(DANA).token_id)
    assert client.get("/approvals").status_code == 303


def test_an_expired_session_sends_to_login(store: StateStore) -> None:
    client, _ = dashboard(store)
    clock = Clock()
    client.app.state.dashboard.sessions = Sessions(idle=60, clock=clock)  # type: ignore[attr-defined]
    sign_in(client, DANA)
    assert client.get("/approvals").status_code == 200
    clock.now += 61
    assert client.get("/approvals").status_code == 303


def test_pages_escape_what_users_wrote(store: StateStore) -> None:
    """A message a user controls (a reason, a name in an error) is shown as text, never as markup."""
    client, _ = dashboard(store)
    sign_in(client, DANA)
    answer = client.get("/approvals")
    dash = client.app.state.dashboard  # type: ignore[attr-defined]
    page = dash.templates.get_template("error.html").render(
        error=ForbiddenError("<script>alert(1)</script>", "<b>hint</b>"), visitor=None, csrf=""
    )
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>hint</b>" not in page
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]  # not framed
