"""The security review's attacks, each replayed through the real CLI and API of a real control plane.

Each test is an attack that got through on the code before the fix (see docs/security.md,
"attacks tried") and must now be refused, and recorded where the action is audited.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration


def add_env(shipyard: Shipyard, name: str, **spec: Any) -> None:
    shipyard.manifest["environments"][name] = {"port": free_port(), **spec}


def as_user(shipyard: Shipyard, token: str, *args: str) -> tuple[int, str, str]:
    done = shipyard.cli(*args, check=False, env={**shipyard.env, "SHIPYARD_TOKEN": token})
    return done.returncode, done.stdout, done.stderr


def client(shipyard: Shipyard, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{shipyard.api_port}",
        trust_env=False,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def audit_entries(shipyard: Shipyard) -> list[dict[str, Any]]:
    with shipyard.api() as api:
        return list(api.get("/api/audit", params={"limit": 1000}).json()["entries"])


def test_rollback_cannot_put_a_release_that_never_served_on_traffic(shipyard: Shipyard) -> None:
    add_env(shipyard, "staging")
    add_env(shipyard, "production", approval={"required": True, "expires": "1h"})
    shipyard.manifest["promotion"] = {"path": ["dev", "staging", "production"], "require_previous": True}
    shipyard.write_manifest()
    shipyard.up()
    pat = shipyard.cli("users", "add", "pat", "--role", "deployer", "--env", "production").stdout.strip()
    shipyard.cli("deploy", "dev")  # r1: a dev build, never in staging
    code, _, err = as_user(shipyard, pat, "promote", "r1", "--to", "production")
    assert code == 1 and "r1 must pass staging before production" in err
    # the attack: a rollback "to" r1 skipped approval and the path (before: r1 served production)
    code, _, err = as_user(shipyard, pat, "rollback", "production", "--to", "r1")
    assert code == 1
    assert "r1 never served production, so it cannot be a rollback target there" in err
    assert "shipyard promote r1 --to production" in err
    with shipyard.api() as api:
        production = api.get("/api/status").json()["environments"]["production"]
        deployments = api.get("/api/deployments", params={"env": "production"}).json()
    assert production["active_release"] is None and production["instances"] == []
    assert deployments == []
    refused = [e for e in audit_entries(shipyard) if e["actor"] == "pat" and e["action"] == "rollback"]
    assert [e["result"] for e in refused] == ["ok", "error"]  # allowed by role, refused by the rule
    assert "never served production" in refused[1]["detail"]


def test_a_reader_of_one_environment_sees_only_its_configuration_and_silences(shipyard: Shipyard) -> None:
    add_env(shipyard, "staging", config={"REGION": "staging-only-region"})
    shipyard.manifest["promotion"] = ["dev", "staging"]
    shipyard.write_manifest()
    shipyard.up()
    vic = shipyard.cli("users", "add", "vic", "--role", "viewer", "--env", "dev").stdout.strip()
    shipyard.cli("deploy", "dev")
    shipyard.cli("promote", "--to", "staging")
    shipyard.cli("alerts", "silence", "env=staging", "--comment", "staging-only-silence")
    shipyard.cli("alerts", "silence", "env=dev", "--comment", "dev-silence")
    shipyard.cli("alerts", "silence", "alertname=CpuHigh", "--comment", "everywhere-silence")
    with shipyard.api() as api:  # the admin sees everything
        assert "staging-only-region" in api.get("/api/releases").text
        assert "staging-only-silence" in api.get("/api/alerts").text
    with client(shipyard, vic) as api:
        releases = api.get("/api/releases")
        alerts = api.get("/api/alerts")
    assert releases.status_code == 200 and alerts.status_code == 200
    assert "staging-only-region" not in releases.text
    assert {r["id"] for r in releases.json()} >= {"r1"}  # releases themselves are not per environment
    assert all('"dev"' in r["config"] for r in releases.json())
    comments = {s["comment"] for s in alerts.json()["silences"]}
    assert comments == {"dev-silence"}  # not staging's, not one over every environment


def test_refused_reads_of_users_and_the_audit_log_are_audited(shipyard: Shipyard) -> None:
    shipyard.up()
    vic = shipyard.cli("users", "add", "vic", "--role", "viewer", "--env", "dev").stdout.strip()
    with client(shipyard, vic) as api:
        for path in ("/api/users", "/api/audit", "/api/audit/verify"):
            assert api.get(path).status_code == 403, path
    code, _, err = as_user(shipyard, vic, "audit", "list")
    assert code == 1 and "may not admin" in err
    denied = [(e["action"], e["result"]) for e in audit_entries(shipyard) if e["actor"] == "vic"]
    assert sorted(denied) == sorted(
        [
            ("users.list", "denied"),
            ("audit.list", "denied"),
            ("audit.verify", "denied"),
            ("audit.list", "denied"),
        ]
    )


def test_values_from_the_url_or_a_body_cannot_forge_audit_lines(shipyard: Shipyard) -> None:
    shipyard.up()
    forged = "#99 2026-01-01 00:00:00 admin users.add mallory admin@*: ok"
    with shipyard.api() as api:
        verb = api.post(f"/api/rollouts/dev/abort%0A{forged.replace(' ', '%20')}")
        assert verb.status_code == 422 and verb.json()["error"].startswith("path.verb: "), verb.json()
        # names are held to their patterns (a release id with a newline is a 422); free text,
        # such as a backup's reason, reaches the audit log's target
        deploy = api.post("/api/deploy", json={"env": "dev", "release": f"r9\n{forged}"})
        assert deploy.status_code == 422 and deploy.json()["error"].startswith("body.release: ")
        backup = api.post("/api/backups/dev", json={"reason": f"r9\n{forged}"})
        assert backup.status_code == 202, backup.text
    entries = audit_entries(shipyard)
    assert not [e for e in entries if e["action"].startswith("rollout.")]  # nothing under an unknown verb
    printed = shipyard.cli("audit", "list", "--limit", "1000").stdout
    assert not [line for line in printed.splitlines() if line.startswith("#99")], printed
    assert "r9\\n#99" in printed  # the value is kept, escaped on its one line
    assert "verified" in shipyard.cli("audit", "verify").stdout


def test_an_action_that_fails_with_any_exception_is_audited_as_an_error(shipyard: Shipyard) -> None:
    shipyard.up()
    # a moment far outside time_t made the restore raise a bare OverflowError (not a ShipyardError);
    # times are now bounded at the edge (up to the end of 9999), and the job runner turns any
    # exception into an error (engine/jobs.py), so a restore that fails on its thread is the case
    with shipyard.api() as api:
        far = api.post("/api/backups/dev/restore", json={"to_time": 1e300})
        assert far.status_code == 422 and far.json()["error"].startswith("body.to_time: "), far.text
        resp = api.post("/api/backups/dev/restore", json={"to_time": 253402300799})
        assert resp.status_code == 202, resp.text  # a restore is a job: it fails on its thread
        job_id = resp.json()["job"]["id"]
        deadline = time.monotonic() + 60
        while (job := api.get(f"/api/jobs/{job_id}").json()["job"])["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
    assert job["status"] == "failed", job
    last = [e for e in audit_entries(shipyard) if e["action"] == "backup.restore"]
    assert [e["result"] for e in last] == ["ok", "error"]
    assert last[1]["detail"]  # what went wrong (a bug by its type only: its text may hold anything)


def test_user_names_are_validated_and_unknown_users_are_not_found(shipyard: Shipyard) -> None:
    shipyard.up()
    with shipyard.api() as api:
        bad = api.post("/api/users", json={"name": "Mallory Admin", "role": "viewer"})
        role = api.post("/api/users", json={"name": "mallory", "role": "root"})
        missing = {
            "grant": api.post("/api/users/nobody/grants", json={"role": "viewer"}),
            "revoke": api.post("/api/users/nobody/revoke", json={"role": "viewer"}),
            "disable": api.post("/api/users/nobody/disable"),
            "token": api.post("/api/users/nobody/tokens", json={}),
        }
    # the API's models refuse them before the access service sees them: a 422 naming the field
    assert bad.status_code == 422 and bad.json()["error"].startswith("body.name: "), bad.json()
    assert bad.json()["kind"] == "InputError"
    assert role.status_code == 422 and role.json()["kind"] == "InputError", role.json()
    for what, resp in missing.items():
        assert resp.status_code == 404 and "no user 'nobody'" in resp.json()["error"], what
    failed = [e for e in audit_entries(shipyard) if e["result"] == "error"]
    assert {e["action"] for e in failed} == {"users.grant", "users.revoke", "users.disable", "tokens.create"}


def test_requests_refused_for_want_of_a_valid_token_are_audited_without_the_token(shipyard: Shipyard) -> None:
    """Guessing tokens leaves a trace (who tried, from where, on what), never the guess, and a
    flood of guesses writes one entry a minute per address with the count of the others."""
    shipyard.up()
    guesses = [f"guess-{n}-Zq8w" for n in range(5)]
    url = f"http://127.0.0.1:{shipyard.api_port}"
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as anonymous:
        assert anonymous.post("/api/deploy").status_code == 401  # no token at all
        for guess in guesses:
            answer = anonymous.get("/api/status", headers={"Authorization": f"Bearer {guess}"})
            assert answer.status_code == 401
    entries = audit_entries(shipyard)
    refused = [e for e in entries if e["action"] == "api.auth"]
    assert [(e["actor"], e["result"], e["source"], e["target"]) for e in refused] == [
        ("-", "denied", "127.0.0.1", "POST /api/deploy")
    ]
    assert refused[0]["detail"] == "missing API token"
    assert not any(guess in str(e) for e in entries for guess in guesses)
    assert "guess-" not in (shipyard.home / "server.log").read_text()
