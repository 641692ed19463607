"""The edge through whole deployments, on real HAProxy and real app processes:
``edge.sticky: cookie`` across a canary, its promotion and a rollback; ``shipyard maintenance``
on and off (with an allowed network, across a control-plane restart, audited); and
``database.migrate.maintenance`` around a migration that fails."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.integration.conftest import Load, Shipyard
from tests.integration.test_canary import rollout, use_canary, wait_for

pytestmark = pytest.mark.integration
COOKIE = "SHIPYARD_SRV"


def client(source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), trust_env=False, timeout=5)


def versions(http: httpx.Client, url: str, times: int = 10) -> set[str]:
    """The versions ``http`` (one cookie jar) sees; every answer must be a 200."""
    seen = set()
    for _ in range(times):
        resp = http.get(url)
        assert resp.status_code == 200, resp.text
        seen.add(resp.json()["version"])
    return seen


def test_a_sticky_cookie_holds_users_through_a_canary_and_moves_them_on_rollback(shipyard: Shipyard) -> None:
    use_canary(shipyard, steps=[50, 100], pause_at=[50])
    shipyard.manifest["environments"]["dev"]["edge"] = {"sticky": "cookie"}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    url = f"http://127.0.0.1:{shipyard.port}/"
    with client() as one:  # blue-green or not: one user, one instance
        first = one.get(url)
        instance = first.cookies[COOKIE]
        for _ in range(10):
            again = one.get(url)
            assert COOKIE not in again.cookies  # no new cookie: the same instance answered
        assert one.cookies[COOKIE] == instance
    with Load(shipyard.port) as load:
        time.sleep(1.5)  # the analysis needs traffic
        shipyard.use("v2")
        shipyard.cli("deploy", "--no-wait")
        wait_for(lambda: rollout(shipyard)["rollout"].get("paused_by") == "pause_at", 30, "the 50% step")
        users = [client() for _ in range(20)]
        seen = [versions(user, url) for user in users]  # at 50%, 20 users on one version: 2 in a million
        assert all(len(s) == 1 for s in seen), seen
        assert set().union(*seen) == {"1.0.0", "2.0.0"}
        on_v1 = [u for u, s in zip(users, seen, strict=True) if s == {"1.0.0"}]
        shipyard.cli("rollout", "promote")
        wait_for(lambda: not rollout(shipyard)["running"], 60, "the rollout's end")
        assert rollout(shipyard)["rollout"]["phase"] == "promoted"
        # a cookie naming a colour no longer in traffic: the user moves, with no error
        assert all(versions(user, url) == {"2.0.0"} for user in on_v1)
        shipyard.cli("rollback")
        assert all(versions(user, url) == {"1.0.0"} for user in users)
    for user in users:
        user.close()
    assert not load.failed, load.failed[:5]


def test_maintenance_on_and_off_lets_allowed_networks_through_and_survives_a_restart(
    shipyard: Shipyard,
) -> None:
    shipyard.up()
    shipyard.cli("deploy")
    url = f"http://127.0.0.1:{shipyard.port}/"
    out = shipyard.cli(
        "maintenance", "on", "dev", "--message", "Back at 14:00", "--allow", "127.0.0.2"
    ).stdout
    assert "maintenance on" in out and "127.0.0.2/32 still reach the app" in out, out
    with client() as http:
        closed = http.get(url)
    assert closed.status_code == 503 and closed.text.strip() == "Back at 14:00"
    assert closed.headers["retry-after"] == "60"
    with client("127.0.0.2") as allowed:
        assert allowed.get(url).json()["version"] == "1.0.0"

    shipyard.cli("down", "--keep-apps")  # HAProxy keeps the page; the restarted plane keeps it on
    shipyard.up()
    with client() as http:
        assert http.get(url).status_code == 503
    assert "maintenance on (by admin)" in shipyard.cli("maintenance", "status", "dev").stdout

    shipyard.cli("maintenance", "off", "dev")
    assert shipyard.serving()["version"] == "1.0.0"
    with shipyard.api() as api:
        actions = [e["action"] for e in api.get("/api/audit").json()["entries"]]
    assert {"maintenance.on", "maintenance.off"} <= set(actions)
    bad = shipyard.cli("maintenance", "on", "dev", "--allow", "10.0.0.1/8", check=False)
    assert bad.returncode == 1 and "did you mean 10.0.0.0/8" in bad.stderr, bad.stderr
    assert shipyard.serving()["version"] == "1.0.0"  # refused: nothing changed


def test_a_migration_that_needs_the_page_gets_it_and_it_goes_off_when_the_migration_fails(
    shipyard: Shipyard,
) -> None:
    shipyard.manifest["database"]["migrate"]["maintenance"] = True
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    assert shipyard.serving()["version"] == "1.0.0"  # the page went off after the first migration
    seen = shipyard.app / "seen-during-migration.txt"
    (shipyard.app / "migrate.py").write_text(
        "import sys, urllib.error, urllib.request\n"
        "try:\n"
        f"    code = urllib.request.urlopen('http://127.0.0.1:{shipyard.port}/', timeout=5).status\n"
        "except urllib.error.HTTPError as exc:\n"
        "    code = exc.code\n"
        f"open({str(seen)!r}, 'w').write(str(code))\n"
        "print('the page answered', code, '- now failing'); sys.exit(3)\n"
    )
    failed = shipyard.cli("deploy", check=False)
    assert failed.returncode == 1 and "exited with 3" in failed.stderr, failed.stderr
    assert seen.read_text() == "503"  # the page was on while the migration ran
    assert shipyard.serving()["version"] == "1.0.0"  # and off after it failed
    assert "maintenance off" in shipyard.cli("maintenance", "status", "dev").stdout
