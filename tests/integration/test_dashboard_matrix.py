"""The dashboard's role matrix: every page and action x every role x own/other environment.

The API's matrix (``test_role_matrix.py``) covers the JSON routes, which take a bearer token;
the dashboard's routes take a session instead, so each cell here signs in through the login
form (a fresh session per cell: a logout must not end the next cell's), reads the session's
CSRF token from a page, then makes its request. Every route of ``dashboard_routes()`` must have
a row. Allowed means the request got past the decision (an action aimed to fail after it: a
release that does not exist, a deployment not waiting for approval); refused means 403, or a
redirect to the login page for a visitor without a session; an audited action's refusal must be
in the audit log as ``denied`` under the user's name.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port
from tests.integration.test_role_matrix import Plane as ApiPlane

from shipyard.core.access import PERMISSIONS, ROLES
from shipyard.server.dashboard.routes import dashboard_routes

pytestmark = pytest.mark.integration

OWN, OTHER = "dev", "staging"
ADMIN_ALL, NO_SESSION, BAD_TOKEN = "admin on *", "no session", "bad token"
PRINCIPALS = (*ROLES, ADMIN_ALL, NO_SESSION, BAD_TOKEN)


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # {env}: the cell's environment; {dep_id}: a finished deployment, {silence_id}: a silence
    need: str  # a permission on the cell's env; "*:perm" on every one; "session": signed in; "public"
    audit: str = ""
    form: tuple[tuple[str, str], ...] = ()


ROWS: tuple[Row, ...] = (
    Row("GET", "/login", "public"),
    Row("POST", "/login", "public"),  # its own check: a token, and the login form's CSRF cookie
    Row("GET", "/static/dashboard.css", "public"),
    Row("GET", "/", "session"),  # filtered to readable environments
    Row("GET", "/releases", "session"),
    Row("GET", "/approvals", "session"),  # filtered to environments the user may approve in
    Row("POST", "/logout", "session"),
    Row("GET", "/envs/{env}/rollback", "read"),
    Row("POST", "/envs/{env}/rollback", "deploy", "rollback", (("to", "r404"),)),
    Row("POST", "/envs/{env}/promote", "deploy", "promote", (("release", "r404"),)),
    Row("GET", "/deployments/{dep_id}", "read"),
    Row("GET", "/deployments/{dep_id}/stream", "read"),
    Row("POST", "/deployments/{dep_id}/approve", "approve", "approve"),
    Row("POST", "/deployments/{dep_id}/reject", "approve", "reject", (("reason", "matrix"),)),
    Row("POST", "/deployments/{dep_id}/rollout/{verb}", "deploy", "rollout.abort"),
    Row("GET", "/envs/{env}/metrics", "read"),
    Row("GET", "/envs/{env}/metrics?window=15m", "read"),
    Row("GET", "/alerts", "session"),  # filtered to readable environments
    Row("GET", "/secrets", "session"),  # filtered to environments whose secrets the user may list
    Row("POST", "/alerts/silences", "deploy", "alerts.silence", (("m.env", "{env}"), ("duration", "1m"))),
    Row("POST", "/alerts/silences/{silence_id}/expire", "deploy", "alerts.unsilence"),
    Row("GET", "/logs?env={env}&grep=started", "read"),
    Row("GET", "/audit", "*:admin", "audit.list"),
    Row("GET", "/users", "*:admin", "users.list"),
    Row(
        "POST", "/users", "*:admin", "users.add", (("name", "matrix-made"), ("role", "viewer"), ("env", OWN))
    ),
    Row("POST", "/users/{name}/disable", "*:admin", "users.disable"),
    Row("POST", "/tokens/{tid}/revoke", "*:admin", "tokens.revoke"),
    Row("GET", "/backups", "session"),  # filtered to readable environments
    Row("POST", "/envs/{env}/drills", "deploy", "drill.run"),
    Row("POST", "/envs/{env}/backups/verify", "deploy", "backup.verify", (("backup", "b404"),)),
    Row(
        "POST",
        "/envs/{env}/backups/restore",
        "admin",
        "backup.restore",
        (("backup", "b404"), ("confirm", "{env}")),
    ),
)


def allowed(row: Row, who: str, env: str) -> bool:
    if row.need == "public":
        return True
    if who in (NO_SESSION, BAD_TOKEN):
        return False
    if row.need == "session" or who == ADMIN_ALL:
        return True
    if row.need.startswith("*:"):
        return False  # every role's grant is on one environment only
    return row.need in PERMISSIONS[who] and env == OWN  # type: ignore[index]


@dataclass
class Plane(ApiPlane):
    """The API matrix's control plane (its reads of the audit log), signing in to the pages."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.shipyard.api_port}"

    def session(self, who: str) -> tuple[httpx.Client, str]:
        """A client signed in as ``who`` (or not, for the visitors without a session), and the
        CSRF token its forms carry."""
        client = httpx.Client(base_url=self.base, trust_env=False, timeout=60, follow_redirects=False)
        form = client.get("/login")
        login_csrf = csrf_of(form.text)
        if who == NO_SESSION:
            return client, login_csrf
        client.post("/login", data={"csrf": login_csrf, "token": self.tokens[who], "next": "/"})
        page = client.get("/approvals")
        return client, csrf_of(page.text) if page.status_code == 200 else login_csrf

    def visit(self, row: Row, who: str, env: str) -> httpx.Response:
        path = row.path.replace("{env}", env).replace("{dep_id}", str(self.deployments[env]))
        path = path.replace("{name}", "nobody-404").replace("{tid}", "t404")
        path = path.replace("{verb}", "abort").replace("{silence_id}", str(self.silences[env]))
        signing_in = row.path == "/login"  # from a client not signed in yet
        client, csrf = self.session(NO_SESSION if signing_in else who)
        try:
            if row.method == "GET":
                return client.get(path)
            form = {k: v.replace("{env}", env) for k, v in row.form} | {"csrf": csrf}
            if signing_in:
                form |= {"token": self.tokens.get(who, ""), "next": "/"}
            return client.post(path, data=form)
        finally:
            client.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    return found.group(1) if found else ""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Iterator[Plane]:
    shipyard = Shipyard(tmp_path_factory.mktemp("dashboard-matrix"), venv_cache)
    shipyard.manifest["environments"][OTHER] = {"port": free_port()}
    shipyard.write_manifest()
    try:
        shipyard.up()
        tokens = {ADMIN_ALL: (shipyard.home / "token").read_text().strip(), BAD_TOKEN: "sy_" + "x" * 43}
        for role in ROLES:
            made = shipyard.cli("users", "add", f"u-{role}", "--role", role, "--env", OWN)
            tokens[role] = made.stdout.strip()
        shipyard.cli("deploy", OWN)
        shipyard.cli("deploy", OTHER, "--release", "r1")
        with shipyard.api() as api:
            deps = {d["env"]: d["id"] for d in api.get("/api/deployments").json()}
            silences = {
                env: api.post("/api/alerts/silences", json={"matchers": {"env": env}}).json()["id"]
                for env in (OWN, OTHER)
            }
        yield Plane(shipyard, tokens, deps, silences, jobs={})
    finally:
        shipyard.cleanup()


def route_keys() -> set[tuple[str, str]]:
    keys = set()
    for route in dashboard_routes():
        if isinstance(route, Mount):
            keys.add(("GET", route.path + "/"))
        elif isinstance(route, Route):
            keys |= {(m, route.path.replace(":int", "")) for m in route.methods or () if m != "HEAD"}
    return keys


def test_every_dashboard_route_has_a_row() -> None:
    rows = {(r.method, "/static/" if r.path.startswith("/static/") else r.path.split("?")[0]) for r in ROWS}
    assert route_keys() - rows == set(), "dashboard routes without a row in ROWS: add one line each"
    assert rows - route_keys() == set(), "rows for routes that no longer exist"


def refused(answer: httpx.Response) -> bool:
    """403, a login refused (401), or sent to sign in first (a logout's redirect to /login is not)."""
    to_login = answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    return answer.status_code in (401, 403) or to_login


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.method} {r.path}")
def test_dashboard_role_matrix(plane: Plane, row: Row) -> None:
    wrong = []
    scoped = any(key in row.path + repr(row.form) for key in ("{env}", "{dep_id}", "{silence_id}"))
    for env in (OWN, OTHER) if scoped else (OWN,):
        for who in PRINCIPALS:
            before = plane.last_audit_id()
            answer = plane.visit(row, who, env)
            expected = allowed(row, who, env)
            if row.path == "/login" and row.method == "POST":
                expected = who not in (NO_SESSION, BAD_TOKEN)  # signs in, or is refused
            if refused(answer) == expected:
                wrong.append(f"{who} on {env}: {answer.status_code} {answer.text[:160]}")
                continue
            audited = refused(answer) and row.audit and who not in (NO_SESSION, BAD_TOKEN)
            audited_env = "" if row.need.startswith("*:") else env
            if audited and (f"u-{who}", row.audit, audited_env) not in plane.denied(before):
                wrong.append(f"{who} on {env}: refused but not audited as denied {row.audit}")
    assert wrong == [], f"{row.method} {row.path} (needs {row.need}):\n" + "\n".join(wrong)


def test_sign_ins_refusals_and_sign_outs_are_audited_without_the_token(plane: Plane) -> None:
    before = plane.last_audit_id()
    bad_client, _ = plane.session(BAD_TOKEN)
    bad_client.close()
    client, csrf = plane.session("deployer")
    assert client.get("/approvals").status_code == 200
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    client.close()
    with sqlite3.connect(f"file:{plane.shipyard.home / 'state.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT actor, action, result, source, detail FROM audit"
            " WHERE id > ? AND action LIKE 'dashboard.%'",
            (before,),
        ).fetchall()
    assert [(a, b, c, s) for a, b, c, s, _ in rows] == [
        ("-", "dashboard.login", "denied", "127.0.0.1"),
        ("u-deployer", "dashboard.login", "ok", "127.0.0.1"),
        ("u-deployer", "dashboard.logout", "ok", "127.0.0.1"),
    ]
    assert "revoked API token" in rows[0][4]
    assert not any(plane.tokens[who] in repr(rows) for who in (BAD_TOKEN, "deployer"))
