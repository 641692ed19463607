"""Triggers end to end: a real ``git push`` to the bare repository Shipyard hosts, and real
signed push events of GitHub, GitLab and Gitea sent to the running control plane.

The push to ``main`` (on the machine, and over SSH through a private sshd) is built, deployed
to dev by the branch rule and answered with the
progress (``remote:`` lines); a branch no rule names is built and deployed nowhere. A GitHub
event signed with the vault's secret deploys the commit it names, fetched from the event's
clone URL; a missing signature is refused 401 and a wrong one 403, each audited as denied; a
GitLab token and a Gitea signature that are right are accepted (a tag push and a ping, which
start nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.conftest import EXAMPLE, Shipyard
from tests.integration.ports import free_port
from tests.integration.receivers import Hook
from tests.integration.sshd import running_sshd

pytestmark = pytest.mark.integration

SECRET = "s3cret-webhook-key"


def git(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = ["git", "-C", str(folder), "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    return subprocess.run([*base, *args], check=True, capture_output=True, text=True, timeout=300)


def work_repo(root: Path, version: str) -> Path:
    """A developer's checkout of the notes app at ``version``, with one commit on main."""
    work = root / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commit_version(work, version, f"notes {version}")
    return work


def commit_version(work: Path, version: str, message: str) -> str:
    for item in (EXAMPLE / version).iterdir():
        (work / item.name).write_bytes(item.read_bytes())
    git(work, "add", "-A")
    git(work, "commit", "-q", "--allow-empty", "-m", message)
    return git(work, "rev-parse", "HEAD").stdout.strip()


def with_triggers(shipyard: Shipyard) -> None:
    shipyard.manifest["triggers"] = {"branches": {"main": "dev"}, "webhook": {"secret": "WEBHOOK_SECRET"}}
    shipyard.write_manifest()


def audit(shipyard: Shipyard, action: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{shipyard.home / 'state.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM audit WHERE action = ? ORDER BY id", (action,))
        return [dict(r) for r in rows]


def wait_job(shipyard: Shipyard, job_id: int, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with shipyard.api() as api:
        while time.monotonic() < deadline:
            job = api.get(f"/api/jobs/{job_id}").json()["job"]
            if job["status"] not in ("queued", "running"):
                return dict(job)
            time.sleep(0.3)
    raise AssertionError(f"job {job_id} still running after {timeout}s")


def test_git_push_builds_and_deploys_by_branch_rule(shipyard: Shipyard, tmp_path: Path) -> None:
    with_triggers(shipyard)
    shipyard.up()
    told = shipyard.cli("git", "init").stdout
    repo = shipyard.home.resolve() / "git" / "notes.git"
    assert f"git remote add shipyard {repo}" in told and "ssh://" in told
    work = work_repo(tmp_path, "v2")
    sha = git(work, "rev-parse", "HEAD").stdout.strip()

    pushed = git(work, "push", str(repo), "main")
    said = pushed.stderr
    assert f"remote: shipyard: main@{sha[:12]} received" in said, said
    assert "remote: " in said and "branch main deploys to dev" in said, said
    assert "serves dev" in said and "is release r1, deployment" in said, said
    assert shipyard.serving()["version"].startswith("2"), shipyard.serving()

    with shipyard.api() as api:
        dep = api.get("/api/deployments", params={"env": "dev"}).json()[0]
    assert dep["release_id"] == "r1" and dep["reason"] == f"main@{sha[:12]}: notes v2"
    pushes = audit(shipyard, "trigger.push")
    assert pushes[-1]["target"] == f"main@{sha}" and pushes[-1]["result"] == "ok"

    # a branch no rule names: built (with its commit), deployed nowhere
    git(work, "checkout", "-q", "-b", "feature/x")
    other = commit_version(work, "v1", "try v1 again")
    said = git(work, "push", str(repo), "feature/x").stderr
    assert "matches no rule in triggers.branches" in said and "deployed nowhere" in said, said
    assert shipyard.serving()["version"].startswith("2")
    with sqlite3.connect(f"file:{shipyard.home / 'state.db'}?mode=ro", uri=True) as db:
        kept = db.execute("SELECT [commit], message FROM release_commits WHERE release_id = 'r2'").fetchone()
    assert kept == (other, "try v1 again")


def test_git_push_over_ssh_deploys_and_answers_with_the_progress(shipyard: Shipyard, tmp_path: Path) -> None:
    """The remote ``git init`` prints for SSH works with git's own transport through a real sshd."""
    with_triggers(shipyard)
    shipyard.up()
    shipyard.cli("git", "init")
    repo = shipyard.home.resolve() / "git" / "notes.git"
    work = work_repo(tmp_path, "v2")
    sha = git(work, "rev-parse", "HEAD").stdout.strip()
    with running_sshd(tmp_path / "sshd", free_port()) as sshd:
        git(work, "remote", "add", "shipyard", sshd.url(repo))
        pushed = subprocess.run(
            ["git", "-C", str(work), "push", "shipyard", "main"],
            capture_output=True, text=True, timeout=300, check=False,
            env={**shipyard.env, "GIT_SSH_COMMAND": sshd.git_ssh},
        )  # fmt: skip
    said = pushed.stderr
    assert pushed.returncode == 0, said
    assert f"remote: shipyard: main@{sha[:12]} received" in said, said
    assert "branch main deploys to dev" in said and "serves dev" in said, said
    assert shipyard.serving()["version"].startswith("2"), shipyard.serving()
    assert audit(shipyard, "trigger.push")[-1]["target"] == f"main@{sha}"


def signed(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push(work: Path, sha: str, message: str) -> bytes:
    return json.dumps(
        {
            "ref": "refs/heads/main",
            "after": sha,
            "head_commit": {"id": sha, "message": message},
            "repository": {"clone_url": str(work)},
        }
    ).encode()


def test_signed_webhooks_deploy_and_bad_signatures_are_refused(shipyard: Shipyard, tmp_path: Path) -> None:
    with_triggers(shipyard)
    shipyard.up()
    shipyard.cli("secrets", "set", "dev", "WEBHOOK_SECRET", input=SECRET)
    work = work_repo(tmp_path, "v1")
    sha = git(work, "rev-parse", "HEAD").stdout.strip()
    body = github_push(work, sha, "notes v1\n\nthe first")
    url = f"http://127.0.0.1:{shipyard.api_port}/api/hooks"
    event = {"X-GitHub-Event": "push", "Content-Type": "application/json"}

    with httpx.Client(trust_env=False, timeout=30) as plain:  # no token: the signature is the proof
        missing = plain.post(f"{url}/github", content=body, headers=event)
        wrong = plain.post(
            f"{url}/github",
            content=body,
            headers={**event, "X-Hub-Signature-256": "sha256=" + signed(body, "x")},
        )
        tampered = plain.post(
            f"{url}/github",
            content=body.replace(b"main", b"mail"),
            headers={**event, "X-Hub-Signature-256": "sha256=" + signed(body)},
        )
        gitlab_wrong = plain.post(
            f"{url}/gitlab", content=body, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}
        )
        tag = json.dumps({"ref": "refs/tags/v1", "after": sha}).encode()
        gitlab_ok = plain.post(
            f"{url}/gitlab", content=tag, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET}
        )
        ping = b'{"zen": "hi"}'
        gitea_ok = plain.post(
            f"{url}/gitea", content=ping, headers={"X-Gitea-Event": "ping", "X-Gitea-Signature": signed(ping)}
        )
        gitea_wrong = plain.post(
            f"{url}/gitea", content=ping, headers={"X-Gitea-Event": "push", "X-Gitea-Signature": signed(b"x")}
        )
        right = plain.post(
            f"{url}/github", content=body, headers={**event, "X-Hub-Signature-256": "sha256=" + signed(body)}
        )

    assert missing.status_code == 401 and "missing" in missing.json()["error"], missing.text
    assert SECRET not in missing.text and SECRET not in wrong.text
    for refused in (wrong, tampered, gitlab_wrong, gitea_wrong):
        assert refused.status_code == 403 and "wrong" in refused.json()["error"], refused.text
    assert gitlab_ok.status_code == 202 and "not a branch" in gitlab_ok.json()["ignored"], gitlab_ok.text
    assert gitea_ok.status_code == 202 and "only push events" in gitea_ok.json()["ignored"], gitea_ok.text
    denied = [a for a in audit(shipyard, "trigger.webhook") if a["result"] == "denied"]
    assert [(a["actor"], a["detail"]) for a in denied] == [
        ("webhook:github", "missing signature"),
        ("webhook:github", "wrong signature"),
        ("webhook:github", "wrong signature"),
        ("webhook:gitlab", "wrong signature"),
        ("webhook:gitea", "wrong signature"),
    ]

    assert right.status_code == 202, right.text
    job = wait_job(shipyard, right.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["commit"] == sha and job["result"]["env"] == "dev"
    assert shipyard.serving()["version"] == "1.0.0"
    ok = [a for a in audit(shipyard, "trigger.webhook") if a["result"] == "ok"]
    assert ok[-1]["target"] == f"main@{sha}" and ok[-1]["detail"] == "notes v1"
    with shipyard.api() as api:
        dep = api.get("/api/deployments", params={"env": "dev"}).json()[0]
    assert dep["reason"] == f"main@{sha[:12]}: notes v1" and dep["requested_by"] == "webhook:github"


def test_a_webhook_too_large_is_refused_before_it_is_read(shipyard: Shipyard) -> None:
    with_triggers(shipyard)
    shipyard.up()
    with httpx.Client(trust_env=False, timeout=30) as plain:
        resp = plain.post(
            f"http://127.0.0.1:{shipyard.api_port}/api/hooks/github",
            content=b"x" * (6 * 1024 * 1024),
            headers={"X-GitHub-Event": "push"},
        )
    assert resp.status_code == 413, resp.text


def test_a_push_to_production_waits_for_its_approval(shipyard: Shipyard, tmp_path: Path) -> None:
    shipyard.manifest["environments"]["production"] = {
        "port": free_port(), "approval": {"required": True, "expires": "1h"},
    }  # fmt: skip
    shipyard.manifest["triggers"] = {"branches": {"main": "dev", "release/*": "production"}}
    hook = Hook()  # deployment events go through the routing
    shipyard.manifest["notifications"] = {"receivers": {"hook": {"webhook": {"url": hook.url("/events")}}}}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("git", "init")
    repo = shipyard.home.resolve() / "git" / "notes.git"
    work = work_repo(tmp_path, "v1")
    git(work, "checkout", "-q", "-b", "release/1.0")
    sha = git(work, "rev-parse", "HEAD").stdout.strip()

    said = git(work, "push", str(repo), "release/1.0").stderr
    assert "branch release/1.0 deploys to production" in said, said
    assert "waits for approval (`shipyard approve" in said and "waiting_approval" in said, said
    with shipyard.api() as api:
        dep = api.get("/api/deployments", params={"env": "production"}).json()[0]
    assert dep["status"] == "waiting_approval" and dep["reason"] == f"release/1.0@{sha[:12]}: notes v1"
    deadline = time.monotonic() + 20
    while not (asked := [b for b in hook.bodies() if b.get("event") == "deployment.waiting_approval"]):
        assert time.monotonic() < deadline, hook.bodies()
        time.sleep(0.2)
    hook.close()
    assert asked[0]["change"] == f"release/1.0@{sha[:12]}: notes v1" and asked[0]["env"] == "production"


def test_a_push_whose_pipeline_fails_deploys_nothing_and_says_why(shipyard: Shipyard, tmp_path: Path) -> None:
    with_triggers(shipyard)
    shipyard.manifest["pipeline"] = {
        "stages": {"test": {"commands": ["echo 2 tests failed; exit 1"]}},
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("git", "init")
    work = work_repo(tmp_path, "v1")
    pushed = git(work, "push", str(shipyard.home.resolve() / "git" / "notes.git"), "main")
    said = pushed.stderr
    assert "stage test failed" in said, said
    assert "remote: shipyard: main failed: release r1 failed its pipeline (run 1) at stage test" in said, said
    assert "remote: shipyard: try: see `shipyard pipeline show 1`" in said, said
    with shipyard.api() as api:
        assert api.get("/api/status").json()["environments"]["dev"]["active_release"] is None
        assert api.get("/api/deployments", params={"env": "dev"}).json() == []
    failed = [a for a in audit(shipyard, "trigger.push") if a["result"] == "error"]
    assert failed and "failed its pipeline" in failed[-1]["detail"]
