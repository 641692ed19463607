"""The role matrix, table-driven: every API route x every role x own/other environment.

One control plane for the module. Every route of the app (``app.routes``) must have a row in
``ROUTES``, so a new route without one fails ``test_every_route_has_a_row``. Each row says what
the route needs; each cell is a real request with a real token (or none, or a bad one):
allowed means neither 401 nor 403 (a request meant to do something is aimed so that it fails
after the decision: a release or a user that does not exist); refused means 401 or 403, and a
``denied`` entry in the audit log when the row names its audited action.

Adding a route is one line: ``Row(method, path, need, audit, body)``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import httpx
import pytest
from fastapi.routing import APIRoute
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

from shipyard.core.access import PERMISSIONS, ROLES
from shipyard.server.api import create_app

pytestmark = pytest.mark.integration

OWN, OTHER = "dev", "staging"  # every role's grant is on OWN; ADMIN_ALL holds admin on "*"
ADMIN_ALL, NO_TOKEN, BAD_TOKEN = "admin on *", "no token", "bad token"
PRINCIPALS = (*ROLES, ADMIN_ALL, NO_TOKEN, BAD_TOKEN)
ENV = "{env}"  # in a path or a body: the environment of the cell
GRANTED = {str(role): permissions for role, permissions in PERMISSIONS.items()}


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # {env}, {a}, {b}, {dep_id} (a deployment of env), {silence_id}, {job_id}: per cell
    need: str  # a permission on the cell's environment; "*:perm" on every one; "token"; "public"
    audit: str = ""  # the audited action whose refusal must be in the audit log
    body: dict[str, Any] | None = None
    last: bool = False  # run after every other row (it stops the control plane)


ROUTES: tuple[Row, ...] = (
    Row("GET", "/health", "public"),
    Row("GET", "/api/ping", "public"),
    Row("GET", "/openapi.json", "token"),
    Row("GET", "/api/whoami", "token"),
    Row("GET", "/api/status", "token"),  # filtered to readable environments
    Row("GET", "/api/releases", "token"),
    Row("GET", "/api/approvals", "token"),
    Row("GET", "/api/alerts", "token"),
    Row("GET", "/metrics", "token"),
    Row("GET", "/api/vault/due", "token"),
    Row("GET", "/api/deployments", "token"),
    Row("POST", "/api/deploy", "deploy", "deploy", {"env": ENV, "release": "r404"}),
    Row("POST", "/api/rollback", "deploy", "rollback", {"env": ENV, "to": "r404"}),
    Row("POST", "/api/promote", "deploy", "promote", {"to": ENV, "release": "r404"}),
    Row("GET", "/api/deployments/{dep_id}", "read"),
    Row("GET", "/api/deployments/{dep_id}/events", "read"),
    Row("GET", "/api/deployments/{dep_id}/samples", "read"),
    Row("POST", "/api/deployments/{dep_id}/approve", "approve", "approve"),
    Row("POST", "/api/deployments/{dep_id}/reject", "approve", "reject", {"reason": "matrix"}),
    Row("GET", "/api/rollouts/{env}", "read"),
    Row("POST", "/api/rollouts/{env}/retry", "deploy", "rollout.retry"),
    Row("POST", "/api/rollouts/{env}/{verb}", "deploy", "rollout.abort"),
    Row("POST", "/api/locks/{env}/break", "lock", "lock.break"),
    Row("GET", "/api/maintenance/{env}", "read"),
    Row("GET", "/api/nodes", "*:read"),
    # a malformed network: refused after the decision, so the page never goes on
    Row("POST", "/api/maintenance/{env}/on", "deploy", "maintenance.on", {"allow": ["10.0.0.1/8"]}),
    Row("POST", "/api/maintenance/{env}/off", "deploy", "maintenance.off"),
    Row("GET", "/api/scale/{env}", "read"),
    Row("GET", "/api/scale/{env}/history", "read"),
    Row("POST", "/api/scale/{env}", "deploy", "scale", {"count": 2}),
    Row("GET", "/api/certs", "token"),  # filtered to readable environments
    Row("POST", "/api/certs/{env}/renew", "deploy", "certs.renew"),  # no HTTPS listener: 404 after
    Row("GET", "/api/config/{env}", "read"),
    Row("GET", "/api/config/{a}/diff/{b}", "read"),
    Row("GET", "/api/health/{env}/history", "read"),
    Row("GET", "/api/metrics/{env}", "read"),
    Row(
        "POST",
        "/api/alerts/silences",
        "deploy",
        "alerts.silence",
        {"matchers": {"env": ENV}, "duration": "1m"},
    ),
    Row("POST", "/api/alerts/silences/{silence_id}/expire", "deploy", "alerts.unsilence"),
    Row("GET", "/api/logs/{env}", "read"),
    Row("GET", "/api/logs/{env}/export", "read"),
    Row("GET", "/api/logs", "*:read"),
    Row("GET", "/api/backups/{env}", "read"),
    Row("POST", "/api/backups/{env}", "deploy", "backup.create", {"reason": "matrix"}),
    Row("POST", "/api/backups/{env}/verify", "deploy", "backup.verify", {"backup": "b404"}),
    Row("POST", "/api/backups/{env}/restore", "admin", "backup.restore", {"backup": "b404"}),
    Row("POST", "/api/migrations/{env}/status", "deploy", "migrate.status"),
    Row("POST", "/api/migrations/{env}/plan", "deploy", "migrate.plan", {"release": "r404"}),
    Row("GET", "/api/jobs", "token"),  # filtered to readable environments
    Row("GET", "/api/jobs/{job_id}", "read"),
    Row("POST", "/api/migrations/{env}/{direction}", "deploy", "migrate.up"),
    Row("GET", "/api/drills/{env}", "read"),
    Row("GET", "/api/cron/{env}", "read"),
    Row("GET", "/api/cron/{env}/runs", "read"),
    Row("GET", "/api/cron/{env}/runs/{run_id}", "read"),
    Row("POST", "/api/cron/{env}/{job}/run", "deploy", "cron.run"),
    Row("POST", "/api/pipelines", "deploy", "pipeline.run", {"release": "r404"}),  # on dev, the first env
    Row("GET", "/api/pipelines", "read"),
    Row("GET", "/api/pipelines/{run_id}", "read"),
    # a push to the hosted repository: deploy on where the branch goes (no triggers here: dev)
    Row("POST", "/api/triggers/push", "deploy", "trigger.push", {"branch": "main", "sha": "0" * 40}),
    # no token: the event's signature authenticates it (refusals: tests/integration/test_triggers.py)
    Row("POST", "/api/hooks/{provider}", "public"),
    Row("GET", "/api/stats/{env}", "read"),
    Row("POST", "/api/drills/{env}", "deploy", "drill.run"),
    Row("GET", "/api/secrets/{env}", "secrets-list"),
    Row("GET", "/api/secrets/{env}/{name}", "secrets-read", "secrets.read"),
    Row("GET", "/api/secrets/{env}/{name}/history", "secrets-list"),
    Row("POST", "/api/secrets/{env}/{name}", "secrets-write", "secrets.set", {"value": "matrix-value"}),
    Row("POST", "/api/secrets/{env}/{name}/delete", "secrets-write", "secrets.delete"),
    Row("POST", "/api/secrets/{env}/{name}/recover", "secrets-write", "secrets.recover"),
    Row("POST", "/api/secrets/{env}/{name}/purge", "secrets-purge", "secrets.purge"),
    Row("POST", "/api/vault/{env}/import", "secrets-write", "secrets.import", {"values": {"MATRIX": "v"}}),
    Row("GET", "/api/vault/{env}/export", "secrets-read", "secrets.export"),
    Row("POST", "/api/vault/rotate-key", "*:admin", "vault.rotate-key"),
    Row("GET", "/api/users", "*:admin", "users.list"),
    Row("POST", "/api/users", "*:admin", "users.add", {"name": "matrix-made", "role": "viewer", "env": OWN}),
    Row("POST", "/api/users/{name}/grants", "*:admin", "users.grant", {"role": "viewer", "env": OWN}),
    Row("POST", "/api/users/{name}/revoke", "*:admin", "users.revoke", {"role": "viewer", "env": OWN}),
    Row("POST", "/api/users/{name}/disable", "*:admin", "users.disable"),
    Row("POST", "/api/users/{name}/tokens", "*:admin", "tokens.create", {"label": "matrix"}),
    Row("POST", "/api/tokens/{tid}/revoke", "*:admin", "tokens.revoke"),
    Row("GET", "/api/audit", "*:admin", "audit.list"),
    Row("GET", "/api/audit/verify", "*:admin", "audit.verify"),
    Row("GET", "/api/apps", "*:admin", "apps.list"),
    # a folder with no shipyard.yaml: refused after the decision, nothing recorded
    Row("POST", "/api/apps", "*:admin", "apps.add", {"name": "matrix-app", "path": "/nonexistent/app"}),
    Row("POST", "/api/apps/{name}/remove", "*:admin", "apps.remove"),  # no such app: 404 after
    Row("POST", "/api/shutdown?stop_apps=false", "*:admin", "shutdown", last=True),
)
FIXED = {
    "{verb}": "abort",
    "{direction}": "up",
    "{name}": "nobody",
    "{tid}": "tk_nothing",
    "{run_id}": "424242",  # a scheduled job's run that does not exist
    "{job}": "nojob",
    "{provider}": "github",  # a scheduled job that does not exist: the run fails after the decision
}
# with {name} a secret's name: one that does not exist, so reads and changes fail after the decision


def allowed(row: Row, who: str, env: str) -> bool:
    if row.need == "public":
        return True
    if who in (NO_TOKEN, BAD_TOKEN):
        return False
    if row.need == "token" or who == ADMIN_ALL:
        return True
    if row.need.startswith("*:"):
        return False  # every role's grant is on one environment only
    return row.need in GRANTED[who] and env == OWN


def envs_of(row: Row) -> tuple[str, ...]:
    scoped = any(k in row.path for k in ("{env}", "{a}", "{dep_id}", "{silence_id}", "{job_id}"))
    scoped = scoped or ENV in repr(row.body)
    return (OWN, OTHER) if scoped else (OWN,)


@dataclass
class Plane:
    shipyard: Shipyard
    tokens: dict[str, str]
    deployments: dict[str, int]
    silences: dict[str, int]
    jobs: dict[str, int]

    def request(self, row: Row, who: str, env: str) -> httpx.Response:
        path = row.path.replace("{env}", env).replace("{a}", env).replace("{b}", env)
        path = path.replace("{dep_id}", str(self.deployments[env]))
        path = path.replace("{silence_id}", str(self.silences[env]))
        path = path.replace("{job_id}", str(self.jobs[env]))
        for key, value in FIXED.items():
            path = path.replace(key, value)
        body = None if row.body is None else _filled(row.body, env)
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who != NO_TOKEN else {}
        with httpx.Client(base_url=f"http://127.0.0.1:{self.shipyard.api_port}", trust_env=False) as api:
            return api.request(row.method, path, json=body, headers=headers, timeout=60)

    def denied(self, after: int) -> set[tuple[str, str, str]]:
        with sqlite3.connect(f"file:{self.shipyard.home / 'state.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT actor, action, env FROM audit WHERE id > ? AND result = 'denied'", (after,)
            )
            return {(str(a), str(b), str(c)) for a, b, c in rows}

    def last_audit_id(self) -> int:
        with sqlite3.connect(f"file:{self.shipyard.home / 'state.db'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0])


def _filled(value: Any, env: str) -> Any:
    if isinstance(value, dict):
        return {k: _filled(v, env) for k, v in value.items()}
    return env if value == ENV else value


def user_of(who: str) -> str:
    return "admin" if who == ADMIN_ALL else f"u-{who}"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory, venv_cache: Path) -> Iterator[Plane]:
    shipyard = Shipyard(tmp_path_factory.mktemp("matrix"), venv_cache)
    shipyard.manifest["environments"][OTHER] = {"port": free_port()}
    shipyard.write_manifest()
    try:
        shipyard.up()
        admin = (shipyard.home / "token").read_text().strip()
        tokens = {ADMIN_ALL: admin, BAD_TOKEN: "sy_" + "x" * 43}
        for role in ROLES:
            tokens[role] = shipyard.cli(
                "users", "add", f"u-{role}", "--role", role, "--env", OWN
            ).stdout.strip()
        setup = shipyard.cli("users", "add", "u-setup", "--role", "deployer").stdout.strip()
        as_setup = {**shipyard.env, "SHIPYARD_TOKEN": setup}  # so no matrix user approves their own
        shipyard.cli("deploy", OWN, env=as_setup)
        shipyard.cli("deploy", OTHER, "--release", "r1", env=as_setup)
        with shipyard.api() as api:
            deps = {d["env"]: d["id"] for d in api.get("/api/deployments").json()}
            silences = {
                env: api.post("/api/alerts/silences", json={"matchers": {"env": env}}).json()["id"]
                for env in (OWN, OTHER)
            }
            jobs = {env: api.post(f"/api/backups/{env}", json={}).json()["job"]["id"] for env in (OWN, OTHER)}
        yield Plane(shipyard, tokens, deps, silences, jobs)
    finally:
        shipyard.cleanup()


def test_every_route_has_a_row() -> None:
    app = create_app(MagicMock(), lambda: None)  # only to list its routes
    routes = {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods or ()}
    rows = {(row.method, row.path.split("?")[0]) for row in ROUTES}
    assert routes - rows == set(), "routes without a row in ROUTES: add one line each"
    assert rows - routes == set(), "rows for routes that no longer exist"


@pytest.mark.parametrize("row", sorted(ROUTES, key=attrgetter("last")), ids=lambda r: f"{r.method} {r.path}")
def test_role_matrix(plane: Plane, row: Row) -> None:
    wrong = []
    for env in envs_of(row):
        for who in sorted(PRINCIPALS, key=lambda w: w == ADMIN_ALL):  # a shutdown only at the end
            before = plane.last_audit_id()
            resp = plane.request(row, who, env)
            expected = allowed(row, who, env)
            refused = resp.status_code in (401, 403)
            if refused == expected:
                wrong.append(f"{who} on {env}: {resp.status_code} {resp.text[:160]}")
            elif refused and row.audit and who not in (NO_TOKEN, BAD_TOKEN):
                audited_env = "" if row.need.startswith("*:") else env
                if (user_of(who), row.audit, audited_env) not in plane.denied(before):
                    wrong.append(f"{who} on {env}: refused but not audited as denied {row.audit}")
    assert wrong == [], f"{row.method} {row.path} (needs {row.need}):\n" + "\n".join(wrong)
