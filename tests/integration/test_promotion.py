"""Promotion, approvals and layered configuration end to end: real CLI, control plane, HAProxy, apps."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port
from tests.integration.receivers import Hook, wait_for

pytestmark = pytest.mark.integration
SECRETISH = "s3cr3t-from-the-control-plane"


def add_env(shipyard: Shipyard, name: str, **spec: Any) -> int:
    port = free_port()
    shipyard.manifest["environments"][name] = {"port": port, **spec}
    return port


def as_user(shipyard: Shipyard, token: str, *args: str) -> tuple[int, str, str]:
    done = shipyard.cli(*args, check=False, env={**shipyard.env, "SHIPYARD_TOKEN": token})
    return done.returncode, done.stdout, done.stderr


def deployment(shipyard: Shipyard, dep_id: int) -> dict[str, Any]:
    with shipyard.api() as api:
        return dict(api.get(f"/api/deployments/{dep_id}").json())


def wait_status(shipyard: Shipyard, dep_id: int, wanted: set[str], limit: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + limit  # bounds the wait; the assertion is on the status
    dep = deployment(shipyard, dep_id)
    while dep["status"] not in wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        dep = deployment(shipyard, dep_id)
    assert dep["status"] in wanted, dep
    return dep


def instance_environ(shipyard: Shipyard, env: str) -> list[dict[str, str]]:
    found = []
    for proc in shipyard.processes():
        environ = proc.environ()
        if environ.get("SHIPYARD_ENV") == env:
            found.append(environ)
    return found


def test_promote_the_same_release_along_the_path_with_its_configuration(shipyard: Shipyard) -> None:
    staging_port = add_env(shipyard, "staging", config={"LOG_LEVEL": "warning"})
    shipyard.manifest["config"] = {"LOG_LEVEL": "info", "GREETING": "hello from #{LOG_LEVEL}#"}
    shipyard.manifest["promotion"] = ["dev", "staging"]
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy", "dev")  # builds r1
    # the path decides: staging takes r1 only after it succeeded in dev
    shipyard.use("broken")
    assert shipyard.cli("deploy", "dev", check=False).returncode == 1  # r2 fails in dev
    shipyard.use("v1")
    done = shipyard.cli("promote", "r2", "--to", "staging", check=False)
    assert done.returncode == 1
    assert "r2 must pass dev before staging: its deployments there ended failed" in done.stderr
    assert "shipyard promote r2 --to dev" in done.stderr
    # without a release, promote takes what serves dev: r1, the same artifact, checksum verified
    out = shipyard.cli("promote", "--to", "staging").stdout
    assert "succeeded" in out and "r1 is serving staging" in out
    with shipyard.api() as api:
        releases = {r["id"]: r for r in api.get("/api/releases").json()}
        deps = api.get("/api/deployments", params={"env": "staging"}).json()
        staging = api.get("/api/status").json()["environments"]["staging"]
    assert staging["active_release"] == "r1"
    assert deps[0]["kind"] == "promote" and deps[0]["checksum"] == releases["r1"]["checksum"]
    assert "checksum" in deps[0]["steps"][0]["detail"] and "verified" in deps[0]["steps"][0]["detail"]
    assert len(releases) == 2  # no rebuild
    assert (
        json.loads(releases["r1"]["config"])["staging"]["LOG_LEVEL"]["origin"]
        == "environments.staging.config"
    )
    # each environment's processes got their own layered configuration
    dev_env, staging_env = instance_environ(shipyard, "dev"), instance_environ(shipyard, "staging")
    assert dev_env and staging_env
    assert {e["LOG_LEVEL"] for e in dev_env} == {"info"}
    assert {e["LOG_LEVEL"] for e in staging_env} == {"warning"}
    assert {e["GREETING"] for e in staging_env} == {"hello from warning"}
    import httpx

    assert httpx.get(f"http://127.0.0.1:{staging_port}/", trust_env=False).status_code == 200
    # a configuration change makes a new release of the same build; rollback restores both
    shipyard.manifest["environments"]["staging"]["config"]["LOG_LEVEL"] = "error"
    shipyard.write_manifest()
    out = shipyard.cli("promote", "r1", "--to", "staging").stdout
    assert "r3 is serving staging" in out
    with shipyard.api() as api:
        r3 = next(r for r in api.get("/api/releases").json() if r["id"] == "r3")
    assert r3["base_release"] == "r1" and r3["checksum"] == releases["r1"]["checksum"]
    assert r3["path"] == releases["r1"]["path"]
    assert {
        e["LOG_LEVEL"] for e in instance_environ(shipyard, "staging") if e["SHIPYARD_RELEASE"] == "r3"
    } == {"error"}
    shipyard.cli("rollback", "staging", "--to", "r1")
    serving = [e for e in instance_environ(shipyard, "staging") if e["SHIPYARD_RELEASE"] == "r1"]
    assert serving and {e["LOG_LEVEL"] for e in serving} == {"warning"}


def test_approval_waits_for_another_approver_and_can_be_rejected_or_expire(shipyard: Shipyard) -> None:
    add_env(shipyard, "production", approval={"required": True, "expires": "1h"})
    shipyard.manifest["promotion"] = {"path": ["dev", "production"], "require_previous": True}
    hook = Hook()  # deployment events, "waiting for approval" among them, go through the routing
    shipyard.manifest["notifications"] = {"receivers": {"hook": {"webhook": {"url": hook.url("/events")}}}}
    shipyard.write_manifest()
    shipyard.up()
    dana = shipyard.cli("users", "add", "dana", "--role", "deployer").stdout.strip()
    bob = shipyard.cli("users", "add", "bob", "--role", "approver", "--env", "production").stdout.strip()
    shipyard.cli("deploy", "dev")  # r1 passes dev
    # a plain build cannot be approved: an approver approves a release
    code, _, err = as_user(shipyard, dana, "deploy", "production")
    assert code == 1 and "production requires approval" in err
    code, out, err = as_user(shipyard, dana, "promote", "--to", "production", "--no-wait")
    assert code == 0, err
    assert "waiting for approval" in out
    dep_id = int(out.split()[1])
    dep = deployment(shipyard, dep_id)
    assert dep["status"] == "waiting_approval" and dep["approval"]["requested_by"] == "dana"
    asked = wait_for(
        lambda: [b for b in hook.bodies() if b.get("event") == "deployment.waiting_approval"], 20, "the event"
    )
    hook.close()
    assert asked[0]["env"] == "production" and asked[0]["deployment"] == dep_id
    assert "dana asks to deploy r1" in asked[0]["reason"]
    # visible in status and deployments; it holds no lock
    status = shipyard.cli("status").stdout
    assert f"#{dep_id} production: waiting for approval, requested by dana" in status
    assert "locked" not in status
    assert "waiting_approval" in shipyard.cli("deployments", "production").stdout
    # the requester cannot approve (she lacks the role); nor can an admin who requested himself
    code, _, err = as_user(shipyard, dana, "approve", str(dep_id))
    assert code == 1 and "may not approve" in err
    admin_req = shipyard.cli("promote", "--to", "production", "--no-wait").stdout
    admin_dep = int(admin_req.split()[1])
    assert deployment(shipyard, dep_id)["status"] == "superseded"  # one request per environment
    done = shipyard.cli("approve", str(admin_dep), check=False)
    assert done.returncode == 1
    assert f"admin requested deployment {admin_dep} and cannot approve it too (four-eyes rule)" in done.stderr
    assert "another user with the approver role on production" in done.stderr
    # a control-plane restart keeps it waiting
    shipyard.cli("down", "--keep-apps")
    shipyard.up()
    assert deployment(shipyard, admin_dep)["status"] == "waiting_approval"
    # another approver approves: it runs and succeeds, and who/when is recorded
    code, out, err = as_user(shipyard, bob, "approve", str(admin_dep))
    assert code == 0, err
    dep = wait_status(shipyard, admin_dep, {"succeeded", "failed"}, limit=90)
    assert dep["status"] == "succeeded", dep
    assert dep["approval"]["decided_by"] == "bob" and dep["approval"]["decision"] == "approved"
    assert dep["approval"]["decided_at"] >= dep["approval"]["requested_at"]
    listed = shipyard.cli("deployments", "production").stdout
    assert "approval: requested by admin" in listed and "approved by bob" in listed
    # r2 goes the same way; then, while a request waits, a rollback is not blocked by it
    shipyard.use("v2")
    shipyard.cli("deploy", "dev")
    code, out, _ = as_user(shipyard, dana, "promote", "--to", "production", "--no-wait")
    second = int(out.split()[1])
    assert as_user(shipyard, bob, "approve", str(second))[0] == 0
    assert wait_status(shipyard, second, {"succeeded", "failed"}, limit=90)["status"] == "succeeded"
    code, out, _ = as_user(shipyard, dana, "promote", "r1", "--to", "production", "--no-wait")
    rejected = int(out.split()[1])
    code, out, err = as_user(shipyard, dana, "rollback", "production")
    assert code == 0, err
    with shipyard.api() as api:
        assert api.get("/api/status").json()["environments"]["production"]["active_release"] == "r1"
    assert deployment(shipyard, rejected)["status"] == "waiting_approval"
    # rejection, with a reason the requester sees
    code, _, err = as_user(shipyard, bob, "reject", str(rejected), "--reason", "freeze until Monday")
    assert code == 0, err
    dep = deployment(shipyard, rejected)
    assert dep["status"] == "rejected" and dep["error"] == "rejected by bob: freeze until Monday"
    # expiry: the reconciler ends a request nobody approved in time
    shipyard.manifest["environments"]["production"]["approval"]["expires"] = "1s"
    shipyard.write_manifest()
    code, out, _ = as_user(shipyard, dana, "promote", "r1", "--to", "production", "--no-wait")
    expired = int(out.split()[1])
    dep = wait_status(shipyard, expired, {"expired"})
    assert dep["approval"]["decision"] == "expired"
    code, _, err = as_user(shipyard, bob, "approve", str(expired))
    assert code == 1 and "is not waiting for approval: it is expired" in err
    # the audit log has who asked, who decided, the four-eyes refusal and the expiry
    with shipyard.api() as api:
        entries = api.get("/api/audit", params={"limit": 500}).json()["entries"]
    seen = {(e["actor"], e["action"], e["result"]) for e in entries}
    assert {
        ("dana", "promote", "ok"),
        ("dana", "approve", "denied"),
        ("admin", "approve", "error"),
        ("bob", "approve", "ok"),
        ("bob", "reject", "ok"),
        ("shipyard", "approval.expire", "ok"),
    } <= seen
    assert "verified" in shipyard.cli("audit", "verify").stdout


def test_required_configuration_is_checked_before_a_deployment_and_shown_masked(shipyard: Shipyard) -> None:
    shipyard.manifest["config"] = {"DATABASE_URL": "postgres://app:#{DB_PASSWORD}#@127.0.0.1/app"}
    shipyard.manifest["config_schema"] = {
        "WORKERS": {"type": "integer", "layer": "environment"},
        "DATABASE_URL": {"type": "url"},
        "API_KEY": {"layer": "variable"},
    }
    shipyard.manifest["environments"]["dev"]["config"] = {"WORKERS": "many", "DB_PASSWORD": SECRETISH}
    shipyard.write_manifest()
    shipyard.up()
    done = shipyard.cli("deploy", "dev", check=False)
    assert done.returncode == 1
    assert "configuration of dev: 2 problems" in done.stderr
    assert "WORKERS = 'many' (from environments.dev.config) is not an integer" in done.stderr
    assert "API_KEY is required in dev, but no layer sets it" in done.stderr
    assert "Try: fix the value in environments.dev.config" in done.stderr
    assert not (shipyard.home / "releases" / "r1").exists()  # refused before anything started
    shown = shipyard.cli("config", "show", "dev")  # the place to look into it: values and problems
    assert "DATABASE_URL" in shown.stdout and "environments.dev.config" in shown.stdout
    assert "problem: API_KEY is required in dev" not in shown.stdout  # problems go to stderr
    assert "config_schema.API_KEY: API_KEY is required in dev, but no layer sets it" in shown.stderr
    assert "a deployment to dev would be refused" in shown.stderr
    shipyard.manifest["environments"]["dev"]["config"]["WORKERS"] = 2
    shipyard.write_manifest()
    done = shipyard.cli("deploy", "dev", check=False)
    assert "set API_KEY in the control plane's environment as $SHIPYARD_CONFIG_DEV_API_KEY" in done.stderr
    # the third layer: the control plane's own environment
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_CONFIG_DEV_API_KEY="key-123", SHIPYARD_CONFIG_DEV_WORKERS="3")
    shipyard.cli("deploy", "dev")
    layered = shipyard.cli("config", "show", "dev").stdout
    assert "$SHIPYARD_CONFIG_DEV_WORKERS" in layered and "key-123" in layered
    assert "environments.dev.config" in layered
    environ = instance_environ(shipyard, "dev")
    assert environ and {e["WORKERS"] for e in environ} == {"3"}
    assert {e["DATABASE_URL"] for e in environ} == {f"postgres://app:{SECRETISH}@127.0.0.1/app"}
    diffed = shipyard.cli("config", "diff", "dev", "dev").stdout
    assert "same configuration" in diffed


def test_config_uses_vault_secrets_masked_and_shows_them_without_reading_them(shipyard: Shipyard) -> None:
    add_env(shipyard, "staging", config={"LOG_LEVEL": "warning"})
    shipyard.manifest["config"] = {
        "DATABASE_URL": "postgres://app:#{DB_PASSWORD}#@db/app",
        "LOG_LEVEL": "info",
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "DB_PASSWORD", input=SECRETISH)
    shipyard.cli("secrets", "set", "staging", "DB_PASSWORD", input="other-" + SECRETISH)
    with shipyard.api() as api:
        before = len(api.get("/api/audit", params={"limit": 1000}).json()["entries"])
        shown = api.get("/api/config/dev").json()
        diffed = api.get("/api/config/dev/diff/staging").json()
        entries = api.get("/api/audit", params={"limit": 1000}).json()["entries"][before:]
    values = {v["key"]: v for v in shown["values"]}
    assert values["DATABASE_URL"] == {
        "key": "DATABASE_URL",
        "value": "**********",
        "origin": "config",
        "layer": "base",
        "secrets": ["DB_PASSWORD"],
    }
    assert values["LOG_LEVEL"]["value"] == "info"
    assert [c["key"] for c in diffed["changes"]] == ["LOG_LEVEL"]
    assert diffed["changes"][0]["b"] == {
        "value": "warning",
        "origin": "environments.staging.config",
        "secrets": [],
    }
    assert SECRETISH not in json.dumps(shown) + json.dumps(diffed)
    assert not [e for e in entries if e["action"].startswith("secrets.")]  # no secret was read
    # a deployment resolves the token from the vault, audited as the runtime's read
    shipyard.cli("deploy", "dev")
    environ = instance_environ(shipyard, "dev")
    assert {e["DATABASE_URL"] for e in environ} == {f"postgres://app:{SECRETISH}@db/app"}
    audit = shipyard.cli("audit", "list", "--limit", "500").stdout
    assert "runtime secrets.use configuration check in dev" in audit
    assert "runtime secrets.use instance dev/" in audit
