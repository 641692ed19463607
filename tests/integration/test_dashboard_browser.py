"""The dashboard in a real browser (Playwright driving Debian's chromium) against a real control
plane, HAProxy and app instances: sign in, watch a deployment as it happens, roll back through
the confirmation, promote and approve as a second user (the requester is refused), and the
refusals a role, a missing session or a forged form meet."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.integration.conftest import Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own download is not used
LONG = 90_000  # ms: a deployment, built and health-checked


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is required for the dashboard's tests: apt-get install -y chromium")
    with sync_playwright() as play:
        launched = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def base(shipyard: Shipyard) -> str:
    return f"http://127.0.0.1:{shipyard.api_port}"


def sign_in(browser: Browser, shipyard: Shipyard, token: str, width: int = 1100) -> Page:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.goto(base(shipyard) + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()
    return page


def add_user(shipyard: Shipyard, name: str, role: str, env: str) -> str:
    return shipyard.cli("users", "add", name, "--role", role, "--env", env).stdout.strip()


def audit(shipyard: Shipyard) -> list[tuple[str, str, str]]:
    with shipyard.api() as api:
        entries = api.get("/api/audit", params={"limit": 500}).json()["entries"]
    return [(e["actor"], e["action"], e["result"]) for e in entries]


def wait_jobs(shipyard: Shipyard) -> dict[str, str]:
    """Wait (bounded) until no job runs; each kind's newest status."""
    deadline = time.monotonic() + 60
    with shipyard.api() as api:
        jobs = api.get("/api/jobs").json()["jobs"]
        while time.monotonic() < deadline and any(j["status"] in ("queued", "running") for j in jobs):
            time.sleep(0.25)
            jobs = api.get("/api/jobs").json()["jobs"]
    return {j["kind"]: j["status"] for j in reversed(jobs)}


def test_watch_a_deployment_live_then_roll_back_through_the_confirmation(
    shipyard: Shipyard, browser: Browser
) -> None:
    shipyard.up()
    shipyard.cli("deploy", "dev")  # r1
    dana = add_user(shipyard, "dana", "deployer", "dev")
    page = sign_in(browser, shipyard, dana, width=375)  # the phone-sized screen
    card = page.locator('section[data-env="dev"]')
    expect(card.locator(".serving")).to_contain_text("r1")
    expect(card).to_contain_text("2 of 2 healthy")
    expect(card).to_contain_text("r1 100%")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the screen

    # a deployment started elsewhere, followed on its page as it runs
    shipyard.use("v2")
    with shipyard.api() as api:
        dep_id = api.post("/api/deploy", json={"env": "dev"}).json()["deployment"]
    page.goto(f"{base(shipyard)}/deployments/{dep_id}")
    assert page.locator("#deployment").get_attribute("data-finished") == ""  # opened while it ran
    expect(page.locator("#events")).to_contain_text("build", timeout=LONG)
    expect(page.locator("#status")).to_have_text("succeeded", timeout=LONG)  # changed by the stream
    expect(page.locator("#events")).to_contain_text("drain")
    expect(page.locator('#steps tr[data-step="switch"]')).to_contain_text("ok")

    # roll back: the confirmation names what will serve
    page.get_by_role("link", name="Releases").click()
    page.get_by_role("link", name="Roll back dev to r1").click()
    expect(page.locator("#what")).to_have_text("dev will serve r1 instead of r2.")
    page.get_by_role("button", name="Roll back dev to r1").click()
    expect(page).to_have_url(re.compile(r"/deployments/\d+$"))
    expect(page.locator("#status")).to_have_text("succeeded", timeout=LONG)
    assert shipyard.serving()["version"] == "1.0.0"  # v1 serves again
    page.get_by_role("link", name="Overview").click()
    expect(page.locator('section[data-env="dev"] .serving')).to_contain_text("r1")
    assert ("dana", "rollback", "ok") in audit(shipyard)

    # silence the environment's alerts for a while, then end the silence
    page.get_by_role("link", name="Alerts").click()
    page.get_by_label("Environment", exact=True).select_option("dev")
    page.get_by_label("For", exact=True).select_option("30m")
    page.get_by_label("Comment", exact=True).fill("planned maintenance")
    page.get_by_role("button", name="Silence", exact=True).click()
    row = page.locator("tr[data-silence]", has_text="planned maintenance")
    expect(row).to_contain_text("env=dev")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=re.compile(r"End silence \d+")).click()
    expect(page.locator("tr[data-silence]", has_text="planned maintenance")).to_contain_text("ended")
    entries = audit(shipyard)
    assert ("dana", "alerts.silence", "ok") in entries and ("dana", "alerts.unsilence", "ok") in entries

    # search the instances' logs
    page.get_by_role("link", name="Logs").click()
    page.get_by_label("Text").fill("startup complete")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"grep=startup\+complete"))
    expect(page.locator("#lines tbody tr").first).to_contain_text("startup complete")
    page.get_by_label("Text").fill("no line says this")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#lines")).to_contain_text("No line matches.")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)  # an admin's page only


def test_promote_then_approve_as_a_second_user_the_requester_refused(
    shipyard: Shipyard, browser: Browser
) -> None:
    shipyard.manifest["environments"]["production"] = {
        "port": free_port(),
        "approval": {"required": True, "expires": "1h"},
    }
    shipyard.manifest["promotion"] = {"path": ["dev", "production"], "require_previous": True}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy", "dev")  # r1 passes dev
    admin = (shipyard.home / "token").read_text().strip()
    bob = add_user(shipyard, "bob", "approver", "production")

    page = sign_in(browser, shipyard, admin)
    page.get_by_role("link", name="Releases").click()
    page.get_by_role("button", name="Promote r1 to production").click()
    expect(page.locator("#status")).to_have_text("waiting_approval")
    dep_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_text("Requested by admin (you: another person must approve it).")).to_be_visible()
    page.get_by_role("button", name=f"Approve #{dep_id}").click()  # four eyes: refused
    expect(page.get_by_role("alert")).to_contain_text("cannot approve it too (four-eyes rule)")

    second = sign_in(browser, shipyard, bob)
    second.get_by_role("link", name="Approvals").click()
    second.get_by_role("button", name=f"Approve #{dep_id}").click()
    expect(second).to_have_url(re.compile(rf"/deployments/{dep_id}$"))
    expect(second.locator("#status")).to_have_text("succeeded", timeout=LONG)
    entries = audit(shipyard)
    assert ("admin", "promote", "ok") in entries and ("bob", "approve", "ok") in entries
    assert ("admin", "approve", "error") in entries  # allowed by role, refused by the four-eyes rule

    page.get_by_role("link", name="Audit").click()  # the admin's audit log, verified
    expect(page.locator("#chain")).to_contain_text("verifies")
    expect(page.get_by_role("row", name=re.compile(r"bob approve production"))).to_have_count(1)

    # a restore asks for the environment's name to be typed
    shipyard.add_note("kept")
    with shipyard.api() as api:
        api.post("/api/backups/dev", json={"reason": "before the restore"})
    wait_jobs(shipyard)
    page.get_by_role("link", name="Backups").click()
    section = page.locator('section[data-env="dev"]')
    expect(section.locator("tr[data-backup]").first).to_be_visible()
    section.get_by_label("Type dev to confirm").fill("production")
    section.get_by_role("button", name="Restore dev").click()
    expect(page.get_by_role("alert")).to_contain_text("the confirmation must be the environment's name")
    assert not [e for e in audit(shipyard) if e[1] == "backup.restore"]
    page.go_back()
    section.get_by_label("Type dev to confirm").fill("dev")
    section.get_by_role("button", name="Restore dev").click()
    expect(page).to_have_url(re.compile(r"/backups$"))
    assert ("admin", "backup.restore", "ok") in audit(shipyard)
    assert wait_jobs(shipyard)["backup.restore"] == "succeeded"


def test_refused_without_a_session_for_a_role_or_a_forged_form_and_no_secret_shown(
    shipyard: Shipyard, browser: Browser
) -> None:
    shipyard.up()
    shipyard.cli("deploy", "dev")
    secret = "s3cr3t-value-never-shown"
    shipyard.cli("secrets", "set", "dev", "API_KEY", input=secret)
    vic = add_user(shipyard, "vic", "viewer", "dev")

    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{base(shipyard)}/releases")
    expect(anonymous).to_have_url(re.compile(r"/login\?next=%2Freleases$"))

    page = sign_in(browser, shipyard, vic)
    page.goto(f"{base(shipyard)}/envs/dev/rollback?to=r1")  # a viewer may read the confirmation
    page.get_by_role("button", name="Roll back dev to r1").click()
    expect(page.get_by_role("alert")).to_contain_text("may not deploy")
    assert ("vic", "rollback", "denied") in audit(shipyard)

    # the same form without its CSRF token, from the signed-in browser: refused before it runs
    before = len(audit(shipyard))
    forged = page.request.post(f"{base(shipyard)}/envs/dev/rollback", form={"to": "r1"})
    assert forged.status == 403 and "CSRF" in forged.text()
    assert len(audit(shipyard)) == before

    # the token alone is no way in: the pages want a session, the API a bearer token
    plain = httpx.get(f"{base(shipyard)}/", cookies={"sy_session": vic}, trust_env=False)
    assert plain.status_code == 303

    page.get_by_role("link", name="Secrets").click()
    expect(page.get_by_role("cell", name="API_KEY")).to_be_visible()  # its name, version, dates
    page.goto(f"{base(shipyard)}/audit")
    expect(page.get_by_role("alert")).to_contain_text("may not admin")
    for path in ("/", "/releases", "/approvals", "/deployments/1", "/alerts", "/secrets", "/logs"):
        page.goto(base(shipyard) + path)
        assert secret not in page.content()
        assert "**********" not in page.content()  # not even masked
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{base(shipyard)}/releases")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def sampled(shipyard: Shipyard, env: str, metric: str, points: int) -> None:
    """Wait (bounded) until ``env``'s ``metric`` has ``points`` samples, as the API reports them."""
    deadline = time.monotonic() + 60
    with shipyard.api() as api:
        while time.monotonic() < deadline:
            found = api.get(f"/api/metrics/{env}", params={"since": 900}).json()["series"]
            if sum(s["points"] for s in found if s["metric"] == metric) >= points:
                return
            time.sleep(0.25)
    pytest.fail(f"{env} has no {points} {metric} samples after 60 s")


def test_metrics_charts_drawn_for_a_reader(shipyard: Shipyard, browser: Browser) -> None:
    shipyard.manifest["alerts"] = {"interval": 0.5}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy", "dev")
    sampled(shipyard, "dev", "restarts", 4)
    vic = add_user(shipyard, "vic", "viewer", "dev")
    page = sign_in(browser, shipyard, vic, width=375)
    page.get_by_role("link", name="Metrics of dev").click()
    expect(page.get_by_role("heading", name="Metrics of dev")).to_be_visible()
    expect(page.get_by_label("Window")).to_have_value("1h")
    for key in ("requests", "cpu", "memory", "instances"):
        chart = page.locator(f"#chart-{key}")
        expect(chart).to_have_attribute("data-drawn", "yes")
        expect(chart.locator("canvas")).to_have_count(1)  # uPlot drew it
    expect(page.get_by_role("region", name="Instances (live)")).to_contain_text("Last 2 live")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_label("Window").select_option("15m")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/envs/dev/metrics\?window=15m$"))
    expect(page.locator("#chart-requests canvas")).to_have_count(1)
    page.goto(f"{base(shipyard)}/envs/dev/metrics?window=7d")
    expect(page.get_by_role("alert")).to_contain_text("use one of: 15m, 1h, 6h, 24h")


def test_an_admin_runs_a_drill_and_manages_users_a_viewer_refused(
    shipyard: Shipyard, browser: Browser
) -> None:
    shipyard.up()
    shipyard.cli("deploy", "dev")
    admin = (shipyard.home / "token").read_text().strip()
    vic = add_user(shipyard, "vic", "viewer", "dev")
    shipyard.add_note("kept")
    with shipyard.api() as api:
        api.post("/api/backups/dev", json={"reason": "for the drill"})
    wait_jobs(shipyard)

    page = sign_in(browser, shipyard, admin)
    page.get_by_role("link", name="Backups").click()
    section = page.locator('section[data-env="dev"]')
    expect(section).to_contain_text("No drill of dev yet.")
    section.get_by_role("button", name="Run a drill of dev").click()
    expect(page).to_have_url(re.compile(r"/backups$"))
    assert wait_jobs(shipyard)["drill.run"] == "succeeded"
    page.reload()
    rto = section.locator('tr[data-measure="rto"]')
    expect(rto).to_contain_text(re.compile(r"RTO\s*\d+\.\d s\s*\d+ s\s*yes"))
    expect(section.locator('tr[data-measure="rpo"]')).to_contain_text("yes")
    expect(section).to_contain_text("passed")
    assert ("admin", "drill.run", "ok") in audit(shipyard)

    viewer = sign_in(browser, shipyard, vic)
    viewer.get_by_role("link", name="Backups").click()
    expect(viewer.locator('section[data-env="dev"] tr[data-measure="rto"]')).to_be_visible()
    expect(viewer.get_by_role("button", name="Run a drill of dev")).to_have_count(0)

    # users and tokens: an admin's page; a new token shown once, then revoked
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Name").fill("erin")
    page.get_by_label("Role").select_option("deployer")
    page.get_by_label("On environment").select_option("dev")
    page.get_by_role("button", name="Add the user").click()
    expect(page.get_by_role("heading", name="erin added")).to_be_visible()
    token = page.locator("#new-token").input_value()
    label = page.locator('label[for="new-token"]').inner_text()
    tid = label.removeprefix("Token ").strip()
    whoami = httpx.get(
        f"{base(shipyard)}/api/whoami", headers={"Authorization": f"Bearer {token}"}, trust_env=False
    )
    assert whoami.json()["user"] == "erin"
    page.get_by_role("link", name="Back to the users").click()
    erin = page.locator('section[data-user="erin"]')
    expect(erin).to_contain_text("deployer on dev")
    expect(erin.locator(f'tr[data-token="{tid}"]')).not_to_contain_text("never")  # used by whoami
    assert token not in page.content()  # the secret only on the answer page
    erin.get_by_role("button", name=f"Revoke token {tid}").click()
    expect(page.locator(f'tr[data-token="{tid}"]')).to_contain_text("revoked")
    whoami = httpx.get(
        f"{base(shipyard)}/api/whoami", headers={"Authorization": f"Bearer {token}"}, trust_env=False
    )
    assert whoami.status_code == 401
    page.locator('section[data-user="erin"]').get_by_role("button", name="Disable erin").click()
    expect(page.get_by_role("heading", name="erin (disabled)")).to_be_visible()
    entries = audit(shipyard)
    for done in ("users.add", "tokens.revoke", "users.disable"):
        assert ("admin", done, "ok") in entries
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # tables scroll in their cards

    # a viewer has no such page, and a form posted anyway is refused and audited
    expect(viewer.get_by_role("link", name="Users")).to_have_count(0)
    viewer.goto(f"{base(shipyard)}/users")
    expect(viewer.get_by_role("alert")).to_contain_text("may not admin")
    csrf = viewer.locator('input[name="csrf"]').first.get_attribute("value") or ""
    posted = viewer.request.post(
        f"{base(shipyard)}/users", form={"csrf": csrf, "name": "mallory", "role": "admin", "env": "*"}
    )
    assert posted.status == 403
    assert ("vic", "users.add", "denied") in audit(shipyard)
    assert "mallory" not in [u["name"] for u in users_of(shipyard)]


def users_of(shipyard: Shipyard) -> list[dict[str, str]]:
    with shipyard.api() as api:
        found: list[dict[str, str]] = api.get("/api/users").json()
    return found
