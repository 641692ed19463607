"""The stdlib-only tinyapp (tests/fixtures/tinyapp) as a Shipyard fixture's app, on the process
runtime or on a Docker Engine (the rig's): used by the runtime contract and docker fault tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from tests.integration.conftest import Shipyard
from tests.integration.docker_rig import BASE_IMAGE
from tests.integration.swarm_rig import Swarm

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tinyapp"


def use_tinyapp(sy: Shipyard, docker_url: str | None) -> None:
    """Replace the example app by tinyapp; ``runtime: docker`` on ``docker_url`` when given."""
    for item in sy.app.iterdir():
        if item.is_file():
            item.unlink()
    shutil.copytree(TINY, sy.app, dirs_exist_ok=True)
    manifest = yaml.safe_load((TINY / "shipyard.yaml").read_text())
    manifest["environments"]["dev"]["port"] = sy.port
    manifest["database"] = {"migrate": {"up": "echo migrating the schema for $(cat version.txt)"}}
    manifest["strategy"] = {"blue_green": {"stop_timeout": "2s", "drain_timeout": "1s", "max_restarts": 2}}
    manifest["alerts"] = {"interval": "1s"}
    if docker_url is not None:
        manifest |= {"runtime": "docker", "build": {"image": BASE_IMAGE}}
        manifest["processes"]["web"] |= {"memory": "128m"}
        sy.env["DOCKER_HOST"] = docker_url
    sy.manifest = manifest
    sy.write_manifest()


def on_swarm(sy: Shipyard, rig: Swarm, instances: int = 1) -> Shipyard:
    """tinyapp on ``runtime: swarm`` (the rig's manager and registry), the control plane up."""
    use_tinyapp(sy, rig.manager.url)
    sy.manifest |= {"runtime": "swarm", "registry": {"address": rig.registry}}
    sy.manifest["processes"]["web"]["instances"] = instances
    sy.manifest["environments"]["dev"]["env"] = {"BIND": "0.0.0.0"}  # reached at its node's address
    sy.write_manifest()
    sy.up()
    return sy
