"""Metrics of a real control plane: collected continuously into the state store (`shipyard
metrics`), and served in Prometheus' text format at GET /metrics (parsed with prometheus-client)."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import Load, Shipyard
from tests.integration.receivers import wait_for

pytestmark = pytest.mark.integration


def test_metrics_are_stored_and_served_to_prometheus(shipyard: Shipyard) -> None:
    shipyard.manifest["alerts"] = {"interval": "1s"}
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    with Load(shipyard.port):
        time.sleep(4)
        out = wait_for(
            lambda: (o := shipyard.cli("metrics", "dev", "--since", "5m").stdout) and "cpu" in o and o,
            20,
            "cpu",
        )
        with shipyard.api() as api:
            scrape = api.get("/metrics")
    assert "request_rate" in out and "release=r1" in out and "instance=blue-0" in out, out
    assert "memory_bytes" in out and "latency_p95" in out and "restarts" in out, out
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape.text)
        for s in family.samples
    }
    assert samples[("shipyard_app_requests_per_second", (("env", "dev"), ("release", "r1")))] > 0
    assert samples[("shipyard_instance_memory_bytes", (("env", "dev"), ("instance", "blue-0")))] > 1e6
    assert samples[("shipyard_instance_healthy", (("env", "dev"), ("instance", "blue-1")))] == 1
    assert (
        samples[("shipyard_app_latency_seconds", (("env", "dev"), ("quantile", "0.95"), ("release", "r1")))]
        >= 0
    )
    assert samples[("shipyard_haproxy_up", ())] == 1
    assert samples[("process_cpu_seconds_total", ())] > 0  # the control plane's own
    assert samples[("shipyard_access_log_lines_total", ())] > 0
    anonymous = httpx.get(f"http://127.0.0.1:{shipyard.api_port}/metrics", trust_env=False)
    assert anonymous.status_code == 401
    bad = shipyard.cli("metrics", "dev", "--since", "soon", check=False)
    assert bad.returncode == 1 and "not a duration" in bad.stderr


def test_platform_facts_are_metrics_and_can_fire_alerts(shipyard: Shipyard) -> None:
    shipyard.manifest["alerts"] = {
        "interval": "1s",
        "default_rules": False,
        "rules": {"SecretsOverdue": {"expr": "secrets_overdue > 0", "severity": "warning"}},
    }
    shipyard.write_manifest()
    shipyard.up()
    shipyard.cli("deploy")
    shipyard.cli("secrets", "set", "dev", "OLD_TOKEN", "--expires", "2020-01-01", input="x")
    shipyard.cli("secrets", "set", "dev", "SOON", "--expires", "10d", input="y")
    shipyard.cli("backup", "create", "dev")

    def scrape() -> dict[tuple[str, str], float]:
        with shipyard.api() as api:
            text = api.get("/metrics").text
        return {
            (s.name, s.labels.get("env", "")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    samples = scrape()
    assert samples[("shipyard_secrets_overdue", "dev")] == 1
    assert samples[("shipyard_secrets_due", "dev")] == 2  # overdue, and due within 30 days
    assert 0 <= samples[("shipyard_backup_age_seconds", "dev")] < 120
    alerts = wait_for(
        lambda: (o := shipyard.cli("alerts", "list").stdout) and "SecretsOverdue" in o and o, 20, "the alert"
    )
    assert "firing" in alerts or "pending" in alerts, alerts
    stored = wait_for(
        lambda: (o := shipyard.cli("metrics", "dev", "--since", "5m").stdout) and "backup_age" in o and o,
        20,
        "backup_age stored",
    )
    assert "secrets_overdue" in stored and "env=dev" in stored, stored
