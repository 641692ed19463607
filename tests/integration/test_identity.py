"""Users, roles, tokens and the audit log end to end: real CLI, control plane and SQLite."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from tests.integration.conftest import Shipyard

pytestmark = pytest.mark.integration


def as_user(shipyard: Shipyard, token: str, *args: str) -> tuple[int, str, str]:
    done = shipyard.cli(*args, check=False, env={**shipyard.env, "SHIPYARD_TOKEN": token})
    return done.returncode, done.stdout, done.stderr


def test_roles_decide_who_may_deploy_and_every_action_is_audited(shipyard: Shipyard) -> None:
    shipyard.up()
    assert "admin (tk_" in shipyard.cli("whoami").stdout  # the bootstrap admin owns <home>/token
    dana = shipyard.cli("users", "add", "dana", "--role", "deployer", "--env", "dev").stdout.strip()
    vic = shipyard.cli("users", "add", "vic", "--role", "viewer", "--env", "dev").stdout.strip()
    assert dana.startswith("sy_") and vic.startswith("sy_") and dana != vic

    # a viewer reads but may not deploy; the refusal says which grant to ask for
    code, out, _ = as_user(shipyard, vic, "status")
    assert code == 0 and "dev" in out
    code, _, err = as_user(shipyard, vic, "deploy")
    assert code == 1
    assert "user 'vic' may not deploy in environment 'dev': they hold viewer on dev" in err
    assert "shipyard users grant vic --role deployer --env dev" in err
    # a deployer deploys, as themselves
    code, out, err = as_user(shipyard, dana, "deploy")
    assert code == 0, err
    deployments = shipyard.cli("deployments", "dev").stdout
    assert "by dana" in deployments
    # nobody but an admin manages users or reads the audit log
    code, _, err = as_user(shipyard, dana, "users", "add", "eve", "--role", "admin")
    assert code == 1 and "may not admin in every environment" in err
    code, _, err = as_user(shipyard, dana, "audit", "list")
    assert code == 1 and "may not admin" in err
    # unknown environment: a clear 404, not a permission puzzle
    code, _, err = as_user(shipyard, dana, "rollback", "staging")
    assert code == 1 and "environment 'staging' is not in shipyard.yaml" in err

    audit = shipyard.cli("audit", "list", "--limit", "100").stdout
    for line in ("users.bootstrap", "users.add", "dana", "vic", "denied", "deploy"):
        assert line in audit, audit
    with shipyard.api() as api:
        entries = api.get("/api/audit").json()["entries"]
    denied = [e for e in entries if e["result"] == "denied"]
    assert {(e["actor"], e["action"]) for e in denied} >= {("vic", "deploy"), ("dana", "users.add")}
    assert any(e["actor"] == "dana" and e["action"] == "deploy" and e["result"] == "ok" for e in entries)
    assert all(e["source"] == "127.0.0.1" for e in entries if e["actor"] in ("dana", "vic"))
    # tokens never reach the audit log or the user list
    listed = shipyard.cli("users", "list").stdout
    for token in (dana, vic):
        assert token not in repr(entries) and token not in listed
    assert "verified" in shipyard.cli("audit", "verify").stdout


def test_revoked_tokens_and_disabled_users_are_locked_out(shipyard: Shipyard) -> None:
    shipyard.up()
    dana = shipyard.cli("users", "add", "dana", "--role", "viewer").stdout.strip()
    ci = shipyard.cli("tokens", "create", "dana", "--label", "ci").stdout.strip()
    assert as_user(shipyard, ci, "whoami")[0] == 0
    with shipyard.api() as api:
        users = {u["name"]: u for u in api.get("/api/users").json()}
    ci_id = next(t["id"] for t in users["dana"]["tokens"] if t["label"] == "ci")
    shipyard.cli("tokens", "revoke", ci_id)
    code, _, err = as_user(shipyard, ci, "whoami")
    assert code == 1 and "revoked API token" in err
    assert as_user(shipyard, dana, "whoami")[0] == 0  # her other token still works
    shipyard.cli("users", "disable", "dana")
    assert as_user(shipyard, dana, "whoami")[0] == 1
    resp = httpx.get(f"http://127.0.0.1:{shipyard.api_port}/api/status", trust_env=False)
    assert resp.status_code == 401 and resp.json()["ok"] is False


def test_audit_verify_finds_a_tampered_entry(shipyard: Shipyard) -> None:
    shipyard.up()
    shipyard.cli("users", "add", "dana", "--role", "deployer", "--env", "dev")
    shipyard.cli("users", "grant", "dana", "--role", "approver", "--env", "dev")
    db = shipyard.home / "state.db"  # the state store (not logs.db, the central log store)
    with sqlite3.connect(db) as conn:
        # the triggers refuse changes; an attacker with file access drops them first
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE action = 'users.add'")
    done = shipyard.cli("audit", "verify", check=False)
    assert done.returncode == 1
    assert "the audit log is broken at entry 2: its content does not match its hash" in done.stderr
