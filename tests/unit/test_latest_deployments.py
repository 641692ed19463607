"""Each environment's newest deployment in one read (the dashboard's overview), on real SQLite."""

from __future__ import annotations

from pathlib import Path

from shipyard.core.records import NewDeployment, Owner
from shipyard.state.store import open_store

ME = Owner(pid=1234, started=1.0)


def test_the_newest_deployment_of_each_environment(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state.db")
    assert store.latest_deployments() == {}
    made: dict[str, list[int]] = {"dev": [], "prod": []}
    for env, status in (("dev", "succeeded"), ("prod", "failed"), ("dev", "failed"), ("prod", "succeeded")):
        dep = store.begin_deployment(NewDeployment(env, "deploy", "alice"), ME)
        store.start_step(dep, "build")
        store.finish_deployment(dep, status)
        made[env].append(dep)
    latest = store.latest_deployments()
    assert {env: dep.id for env, dep in latest.items()} == {"dev": made["dev"][-1], "prod": made["prod"][-1]}
    assert latest["dev"].status == "failed" and latest["prod"].status == "succeeded"
    assert latest["dev"].steps == ()  # the overview shows no steps: they are not read
    store.begin_deployment(NewDeployment("staging", "deploy", "bob"), ME)  # still running
    assert latest != store.latest_deployments() and store.latest_deployments()["staging"].status == "running"
