"""Progressive rollouts end to end: weights through real HAProxy, figures from its log lines,
automatic rollback of a faulty version, manual verbs, webhook notifications, crash safety."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from tests.integration.conftest import Load, Shipyard
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration


def use_canary(shipyard: Shipyard, **settings: Any) -> None:
    canary = {
        "steps": [20, 50, 100],
        "interval": "2s",
        "analysis": {"error_rate": {"max": "1%"}, "latency_p99": {"max": "2s"}, "min_requests": 10},
        "drain_timeout": "5s",
        "stop_timeout": "5s",
    }
    canary.update(settings)
    shipyard.manifest["strategy"] = {"canary": canary}
    shipyard.write_manifest()


class Webhook:
    """A real HTTP receiver that keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/shipyard"

    def close(self) -> None:
        self.server.shutdown()


def wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rollout(shipyard: Shipyard) -> dict[str, Any]:
    """The last rollout's state, or an empty one while a deploy has not reached its rollout."""
    with shipyard.api() as api:
        resp = api.get("/api/rollouts/dev")
    if resp.status_code == 404:
        return {"rollout": {}, "running": False}
    return dict(resp.json())


def test_good_version_is_promoted_step_by_step_without_failed_requests(shipyard: Shipyard) -> None:
    use_canary(shipyard)
    shipyard.up()
    first = shipyard.cli("deploy").stdout
    assert "first release" in first and "✓ switch" in first, first
    with Load(shipyard.port) as load:
        time.sleep(1.5)  # the analysis needs traffic, as production has
        shipyard.use("v2")
        out = shipyard.cli("deploy").stdout
    assert "minimum duration 4s" in out and "worst-case time to detect" in out, out
    assert out.index("20% of requests on r2") < out.index("50% of requests on r2") < out.index("✓ switch"), (
        out
    )
    assert "new r2:" in out and "old r1:" in out, out  # live figures of both versions
    assert not load.failed, load.failed[:5]
    assert load.versions == {"1.0.0", "2.0.0"}
    assert shipyard.serving()["version"] == "2.0.0"
    data = rollout(shipyard)
    assert data["rollout"]["phase"] == "promoted"
    assert [c["result"] for c in data["checks"]] == ["passed", "passed"]
    assert [c["weight"] for c in data["checks"]] == [20, 50]
    counted = data["checks"][0]["figures"]["haproxy_counters"]  # HAProxy's own counters agree
    assert counted["requests"] > 0 and counted["errors_5xx"] == 0
    canary = data["latest"]["canary"]
    assert canary["requests"] > 0 and canary["errors"] == 0 and canary["p99_ms"] is not None
    status = shipyard.cli("rollout", "status").stdout
    assert "promoted" in status and "new r2" in status, status


def test_faulty_version_is_rolled_back_automatically_and_notified(shipyard: Shipyard) -> None:
    hook = Webhook()
    try:
        use_canary(shipyard)
        shipyard.manifest["notifications"] = {"webhook": hook.url}
        shipyard.write_manifest()
        shipyard.up()
        shipyard.cli("deploy")
        with Load(shipyard.port) as load:
            time.sleep(1.5)
            shipyard.use("faulty")
            done = shipyard.cli("deploy", check=False)
            time.sleep(0.5)
            after_rollback = load.by_status.copy()
            time.sleep(1.0)
        assert done.returncode == 1
        assert "rolled_back" in done.stderr and "error rate" in done.stderr, done.stderr
        assert "rollout retry" in done.stderr
        assert shipyard.serving()["version"] == "1.0.0"
        # after the rollback no request reaches the faulty version any more
        assert load.by_status.get(500, 0) == after_rollback.get(500, 0)
        assert 0 < load.by_status.get(500, 0) < 0.2 * 0.2 * sum(load.by_status.values()) * 2
        data = rollout(shipyard)
        ro = data["rollout"]
        assert ro["phase"] == "rolled_back" and ro["weight"] == 0
        assert ro["decided_at"] <= ro["zero_at"] < ro["decided_at"] + 1
        assert ro["first_error_at"] is not None and ro["first_error_at"] < ro["decided_at"]
        assert data["checks"][-1]["result"] == "failed"
        assert data["checks"][-1]["figures"]["haproxy_counters"]["errors_5xx"] > 0
        assert [i["release"] for i in shipyard.status()["instances"]] == ["r1", "r1"]
        hit = wait_for(lambda: hook.received, 10, "the webhook")[0]
        assert hit["event"] == "rollout.rolled_back" and hit["env"] == "dev" and hit["release"] == "r2"
        assert "error rate" in hit["reason"] and hit["rollout"]["zero_at"] is not None
    finally:
        hook.close()


def test_faulty_version_fails_early_long_before_the_interval_ends(shipyard: Shipyard) -> None:
    use_canary(shipyard, interval="1m")  # without early verdicts the first check would end after 1m
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port):
        time.sleep(1.5)
        shipyard.use("faulty")
        done = shipyard.cli("deploy", check=False)
    assert done.returncode == 1 and "early verdict at 99.9% confidence" in done.stderr, done.stderr
    assert shipyard.serving()["version"] == "1.0.0"
    data = rollout(shipyard)
    ro, (check,) = data["rollout"], data["checks"]
    assert ro["phase"] == "rolled_back" and ro["decided_at"] - ro["started_at"] < 60
    figures = check["figures"]
    assert check["result"] == "failed" and figures["early"] is True
    error_rate = next(e for e in figures["evidence"] if e["measure"] == "error_rate")
    assert error_rate["decisive"] and error_rate["confidence"] > 0.999  # its share of the 0.1%
    assert 0.01 < error_rate["lower_bound"] < error_rate["bad"] / error_rate["requests"]


def test_manual_verbs_pause_promote_abort_and_retry(shipyard: Shipyard) -> None:
    # held at 60% too, so that `pause` finds the rollout running however slow the machine is
    use_canary(shipyard, steps=[10, 30, 60, 100], pause_at=[30, 60], interval="4s")
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port) as load:
        time.sleep(1.5)
        shipyard.use("v2")
        shipyard.cli("deploy", "--no-wait")
        wait_for(lambda: rollout(shipyard)["rollout"].get("paused_by") == "pause_at", 30, "the pause at 30%")
        time.sleep(2.5)  # checks keep passing, but a human holds it
        assert rollout(shipyard)["rollout"]["weight"] == 30
        out = shipyard.cli("rollout", "promote").stdout
        assert "paused (pause_at) at 60%" in out, out  # moved on, and held by the next pause_at
        out = shipyard.cli("rollout", "pause").stdout
        assert "paused (manual) at 60%" in out, out
        refused = shipyard.cli("rollout", "pause", check=False)
        assert refused.returncode == 1 and "already paused" in refused.stderr
        out = shipyard.cli("rollout", "abort").stdout
        assert "aborted" in out
        assert shipyard.serving()["version"] == "1.0.0"  # back on the stable version once abort returns
        wait_for(lambda: not rollout(shipyard)["running"], 30, "the aborted rollout to finish")
        # the deployment ends (and frees the environment) once the canary is drained and stopped
        wait_for(lambda: shipyard.status()["lock"] is None, 30, "the lock")
        ended = shipyard.cli("deployments", "dev", "--limit", "1").stdout
        assert "aborted" in ended, ended
        after = shipyard.cli("rollout", "promote", check=False)
        assert after.returncode == 1 and "no rollout is running" in after.stderr
        out = shipyard.cli("rollout", "retry").stdout
        assert "retry" in out
        wait_for(
            lambda: rollout(shipyard)["rollout"].get("paused_by") == "pause_at", 30, "the retried rollout"
        )
        shipyard.cli("rollout", "promote", "--full")
        wait_for(lambda: rollout(shipyard)["rollout"]["phase"] == "promoted", 30, "promotion")
        wait_for(lambda: shipyard.serving()["version"] == "2.0.0", 30, "v2 serving")
    assert not load.failed, load.failed[:5]


def test_interval_too_short_for_the_traffic_is_refused_before_anything_starts(shipyard: Shipyard) -> None:
    use_canary(shipyard, analysis={"min_requests": 100000})
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.use("v2")
    done = shipyard.cli("deploy", check=False)
    assert done.returncode == 1
    assert "strategy.canary.interval (2s) is too short" in done.stderr, done.stderr
    assert "min_requests" in done.stderr and "shipyard.yaml" in done.stderr
    assert shipyard.status()["lock"] is None
    assert shipyard.serving()["version"] == "1.0.0"


def test_control_plane_killed_mid_rollout_returns_traffic_to_stable(shipyard: Shipyard) -> None:
    use_canary(shipyard)
    shipyard.up(SHIPYARD_FAILPOINT="before:nothing")
    shipyard.cli("deploy")
    shipyard.cli("down", "--keep-apps")
    shipyard.up(SHIPYARD_FAILPOINT="at:50%")
    pid = shipyard.server_pid()
    with Load(shipyard.port) as load:
        time.sleep(1.5)
        shipyard.use("v2")
        shipyard.cli("deploy", check=False)
        shipyard.wait_server_gone(pid)
        shipyard.up()
        versions_after = set()
        for _ in range(20):
            versions_after.add(shipyard.serving()["version"])
    assert versions_after == {"1.0.0"}
    assert not load.failed, load.failed[:5]
    data = rollout(shipyard)
    assert data["rollout"]["phase"] == "failed" and not data["running"]
    assert [i["release"] for i in shipyard.status()["instances"]] == ["r1", "r1"]
    assert shipyard.status()["lock"] is None


def test_sticky_split_keeps_each_client_on_one_version(shipyard: Shipyard) -> None:
    use_canary(shipyard, steps=[50, 100], pause_at=[50], sticky=True)
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port):
        time.sleep(1.5)
        shipyard.use("v2")
        shipyard.cli("deploy", "--no-wait")
        wait_for(lambda: rollout(shipyard)["rollout"].get("paused_by") == "pause_at", 30, "the 50% step")
        url = f"http://127.0.0.1:{shipyard.port}/"
        seen_per_client = []
        for _ in range(20):  # at 50%, 20 clients all on one version: 2 runs in a million
            with httpx.Client(trust_env=False, timeout=5) as client:  # one client: one cookie jar
                seen_per_client.append({client.get(url).json()["version"] for _ in range(10)})
        assert all(len(seen) == 1 for seen in seen_per_client), seen_per_client
        assert set().union(*seen_per_client) == {"1.0.0", "2.0.0"}  # both versions get clients
        with httpx.Client(trust_env=False, timeout=5) as pinned:
            while pinned.get(url).json()["version"] != "2.0.0":
                pinned.cookies.clear()
            shipyard.cli("rollout", "abort")
            # a cookie naming a canary instance must not keep the client on the aborted version
            assert {pinned.get(url).json()["version"] for _ in range(10)} == {"1.0.0"}


def test_blue_green_analysis_switches_back_a_faulty_version(shipyard: Shipyard) -> None:
    shipyard.manifest["strategy"] = {
        "blue_green": {
            "analysis": {"error_rate": {"max": "1%"}, "min_requests": 10},
            "analysis_window": "4s",
            "analysis_interval": "2s",
            "drain_timeout": "5s",
        }
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port) as load:
        shipyard.use("faulty")
        done = shipyard.cli("deploy", check=False)
        time.sleep(0.5)
        errors_after = load.by_status.get(500, 0)
        time.sleep(1.0)
    assert done.returncode == 1 and "rolled_back" in done.stderr, done.stderr
    assert "analysis failed after the switch" in done.stderr
    assert shipyard.serving()["version"] == "1.0.0"
    assert load.by_status.get(500, 0) == errors_after > 0
    assert [i["release"] for i in shipyard.status()["instances"]] == ["r1", "r1"]  # the faulty one stopped


def test_a_rolled_back_canary_leaves_the_standby_release_beside_it_untouched(shipyard: Shipyard) -> None:
    use_canary(shipyard)
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port):
        time.sleep(1.5)  # the analysis needs traffic, as production has
        shipyard.use("v2")
        shipyard.cli("deploy")  # promoted: green serves r2, blue keeps r1 for rollback
    v1 = {i["name"]: i["pid"] for i in shipyard.status()["instances"] if i["release"] == "r1"}
    assert sorted(v1) == ["blue-0", "blue-1"]
    with Load(shipyard.port) as load:
        time.sleep(1.5)
        shipyard.use("faulty")  # r3, on blue's other slots beside r1
        done = shipyard.cli("deploy", check=False)
    assert done.returncode == 1 and "rolled_back" in done.stderr, done.stderr
    assert "1.0.0" not in load.versions  # r1 took none of the canary's share
    assert load.versions == {"2.0.0", "2.1.0"}
    status = shipyard.status()
    assert {i["name"]: i["pid"] for i in status["instances"] if i["release"] == "r1"} == v1
    assert (status["standby_colour"], status["standby_release"]) == ("blue", "r1")
    assert all(i["proxy_status"].startswith("UP") for i in status["instances"]), status["instances"]
    rolled = shipyard.cli("rollback").stdout
    assert "traffic back on blue (r1)" in rolled
    assert shipyard.serving()["release"] == "r1"
